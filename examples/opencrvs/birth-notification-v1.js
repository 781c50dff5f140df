// OpenCRVS 1.x: find the active CRVS offices, then notify a birth with the typed FHIR
// builder (child, mother, weight, attendant, place of birth).
getLocations({ params: { type: 'CRVS_OFFICE', _count: '0', status: 'active' } });
fn(state => {
  const offices = state.data.entry.map(e => e.resource);
  console.log(`${offices.length} CRVS office(s); notifying ${offices[0].name}`);
  return { ...state, office: offices[0].id };
});

buildBirthNotification({
  child: { name: { given: ['Chanda'], family: 'Mulenga' }, gender: 'female', birthDate: '2025-06-02' },
  weightKg: 3.2,
  attendant: 'MIDWIFE',
  multipleBirth: false,
  mother: {
    name: { given: ['Mutale'], family: 'Mulenga' },
    nationalId: '1234567890',
    address: {
      line: ['12 Mwansa Road'],
      district: '0eaa73dd-2aab-4a4d-8c5a-6e4a0e4b9a02',
      state: '8f7f1b6e-3a1c-4a39-9a0c-6e4a0e4b9a01',
    },
  },
  placeOfBirth: '3bb1ec2f-2d69-4b79-a5f8-6e4a0e4b9a03',
  office: $.office,
  contactPhone: '+260759205190',
});

createBirthNotification($.data);
