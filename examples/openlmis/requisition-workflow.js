// A requisition from initiation to approval: Nandumbo Health Center (HC02), Family
// Planning (PRG001), January 2017.
facilityByCode('HC02');
fn(state => ({ ...state, facilityId: state.data.id }));

programByCode('PRG001');
fn(state => ({ ...state, programId: state.data.id }));

initiateRequisition($.programId, $.facilityId, '516ac930-0d28-49f5-a178-64764e22b236');

// Read it back, then save it unchanged (the adaptor sends If-Match from the read).
getRequisition($.data.id);
updateRequisition($.data.id, $.data);

submitRequisition($.data.id);
authorizeRequisition($.data.id);
approveRequisition($.data.id);

getRequisition($.data.id);
fn(state => {
  console.log(`Requisition ${state.data.id} is ${state.data.status}`);
  return { ...state, requisition: { id: state.data.id, status: state.data.status } };
});
