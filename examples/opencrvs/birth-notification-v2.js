// OpenCRVS 2.0: find a CRVS office, then notify a birth (create the event, notify it
// with the declaration) for each child in the input, or for one example child.
getLocations({ params: { locationType: 'CRVS_OFFICE' } });
fn(state => ({
  ...state,
  office: state.data[0].id,
  children: state.children ?? [
    { firstname: 'Chanda', surname: 'Mulenga', dob: '2025-06-02', birthLocation: '3bb1ec2f-2d69-4b79-a5f8-6e4a0e4b9a03' },
  ],
}));

each(
  $.children,
  submitBirthNotification(
    state => ({
      'child.name': { firstname: state.data.firstname, surname: state.data.surname },
      'child.dob': state.data.dob,
      'child.placeOfBirth': 'HEALTH_FACILITY',
      'child.birthLocation': state.data.birthLocation,
    }),
    { createdAtLocation: $.office },
  ),
);
