//! Demo data shaped like OpenLMIS's demo database (`referencedata` demo CSVs): the
//! real ids of the well-known records, and generated records up to the demo's sizes.

use serde_json::{Value, json};

/// Facilities in the demo data set (`referencedata.facilities.csv`).
pub const DEMO_FACILITY_COUNT: usize = 2_734;

/// The demo programs: id, code, name, periodsSkippable, skipAuthorization.
pub const PROGRAMS: [(&str, &str, &str, bool, bool); 6] = [
    (
        "dce17f2e-af3e-40ad-8e00-3496adef44c3",
        "PRG001",
        "Family Planning",
        true,
        false,
    ),
    (
        "10845cb9-d365-4aaa-badd-b4fa39c6a26a",
        "PRG002",
        "Essential Meds",
        false,
        false,
    ),
    (
        "66032ea8-b69b-4102-a1eb-844e57143187",
        "PRG003",
        "New program",
        false,
        false,
    ),
    ("418bdc1d-c303-4bd0-b2d3-d8901150a983", "PRG004", "EPI", false, true),
    ("ef9a2b39-e7ce-4ebe-930c-f5c6d15b578a", "PRG005", "ARV", false, false),
    (
        "8a0cf9c6-0591-4ce1-bbbb-ae55553db0dc",
        "PRG006",
        "Lab Program",
        false,
        false,
    ),
];

/// The named demo facilities: id, code, name.
const NAMED_FACILITIES: [(&str, &str, &str); 12] = [
    ("e6799d64-d10d-4011-b8c2-0e4d4a3f65ce", "HC01", "Comfort Health Clinic"),
    ("176c4276-1fb1-4507-8ad2-cdfba0f47445", "HC02", "Nandumbo Health Center"),
    ("5b39f0fb-5c47-4551-b983-1e30ac6df65d", "HC03", "Kalembo Health Center"),
    ("7938919f-6f61-4d1a-a4dc-923c31e9cd45", "HF01", "Kankao Health Facility"),
    ("bfe3eac5-9961-4d44-a492-431865bbcb23", "HC04", "Lilongwe Health Center"),
    (
        "13037147-1769-4735-90a7-b9b310d128b8",
        "DH01",
        "Balaka District Hospital",
    ),
    (
        "19121381-9f3d-4e77-b9e5-d3f59fc1639e",
        "WH01",
        "Ntcheu District Warehouse",
    ),
    (
        "9318b2ea-9ae0-42b2-a7e1-353683f54000",
        "WH02",
        "Balaka District Warehouse",
    ),
    (
        "482591f1-33c8-4004-bc24-29931fc0c630",
        "W001",
        "Mozambique Central Warehouse",
    ),
    (
        "0898dcd6-53f2-41b6-ba7d-b2f5122ffb44",
        "P001",
        "Depósito Provincial Niassa",
    ),
    (
        "c62dea9b-6974-4101-ba39-b09914165967",
        "D001",
        "Depósito Distrital Cuamba",
    ),
    ("7fc9bda8-ad8a-468d-8244-38e1918527d5", "N003", "Cuamba, Cuamba"),
];

/// Orderables in the demo data set (`referencedata.orderables.csv`).
pub const DEMO_ORDERABLE_COUNT: usize = 10_234;

/// The named demo orderables: id, product code, name.
const NAMED_ORDERABLES: [(&str, &str, &str); 4] = [
    ("d602d0c6-4052-456c-8ccd-61b4ad77bece", "C100", "Levora"),
    ("23819693-0670-4c4b-b400-28e009b86b51", "C200", "Ortho-Novum"),
    ("2400e410-b8dd-4954-b1c0-80d8a8e785fc", "C1", "Acetylsalicylic Acid"),
    ("8ef9d4da-b6e5-401c-b433-765a5fd8a0cc", "bcg20", "BCG"),
];

/// Stock line-item reasons: id, name, type (`CREDIT` or `DEBIT`).
pub const REASONS: [(&str, &str, &str); 6] = [
    ("e3fc3cf3-da18-44b0-a220-77c985202e06", "Transfer In", "CREDIT"),
    ("313f2f5f-0c22-4626-8c49-3554ef763de3", "Receipts", "CREDIT"),
    ("279d55bd-42e3-438c-a63d-9c021b185dae", "Facility return", "CREDIT"),
    ("b5c27da7-bdda-4790-925a-9484c5dfb594", "Consumed", "DEBIT"),
    ("c1fc3cf3-da18-44b0-a220-77c985202e06", "Transfer Out", "DEBIT"),
    ("5b09202e-b8a7-4f77-9e0e-8156f8efc613", "Damage", "DEBIT"),
];

/// Monthly processing periods of 2017: id and name (`Jan2017` has its demo id).
pub fn periods() -> Vec<(String, String)> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    MONTHS
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let id = if i == 0 {
                "516ac930-0d28-49f5-a178-64764e22b236".to_string()
            } else {
                format!("9e0d{i:04x}-2017-4000-8000-00000000{i:04x}")
            };
            (id, format!("{m}2017"))
        })
        .collect()
}

/// Every demo orderable as `OrderableDto`, all in the Family Planning program.
pub fn orderables() -> Vec<Value> {
    let named = NAMED_ORDERABLES
        .iter()
        .map(|(id, code, name)| (id.to_string(), code.to_string(), name.to_string()));
    let generated = (NAMED_ORDERABLES.len()..DEMO_ORDERABLE_COUNT).map(|n| {
        (
            format!("0d{n:06x}-0a1e-4b0d-9c1a-{:012x}", n * 104_729),
            format!("P{n:05}"),
            format!("Product {n:05}"),
        )
    });
    named
        .chain(generated)
        .map(|(id, code, name)| {
            json!({"id": id, "productCode": code, "fullProductName": name, "description": name,
                   "netContent": 84, "packRoundingThreshold": 42, "roundToZero": false,
                   "dispensable": {"dispensingUnit": "each"},
                   "programs": [{"programId": PROGRAMS[0].0, "orderableDisplayCategoryId": "15b8ef1f-a5d6-42dd-95bf-bb68a4504e82",
                                 "orderableCategoryDisplayName": "Oral contraceptives", "orderableCategoryDisplayOrder": 1,
                                 "active": true, "fullSupply": true, "displayOrder": 1, "dosesPerPatient": 1, "pricePerPack": 5.225}],
                   "children": [], "identifiers": {}, "extraData": {},
                   "meta": {"versionNumber": 1, "lastUpdated": "2017-01-01T00:00:00Z"}})
        })
        .collect()
}

/// Every demo facility as `BasicFacilityDto` (what `GET /api/facilities` lists).
pub fn facilities() -> Vec<Value> {
    let health_center = json!({"id": "ac1d268b-ce10-455f-bf87-9c667da8f060", "code": "health_center", "name": "Health Center", "displayOrder": 1, "active": true});
    let zone = json!({"id": "9b497d87-cdd9-400e-bb04-fae0bf6a9491", "code": "Balaka", "name": "Balaka",
        "level": {"id": "93c8ab4d-2f7e-4df6-8a4f-1d2e1fa80e0b", "code": "District", "name": "District", "levelNumber": 3}});
    let named = NAMED_FACILITIES
        .iter()
        .map(|(id, code, name)| (id.to_string(), code.to_string(), name.to_string()));
    let generated = (NAMED_FACILITIES.len()..DEMO_FACILITY_COUNT).map(|n| {
        (
            format!("fac{n:05x}-5a1e-4c0d-9b1a-{:012x}", n * 7919),
            format!("FAC{n:04}"),
            format!("Facility {n:04}"),
        )
    });
    named
        .chain(generated)
        .map(|(id, code, name)| {
            json!({"id": id, "code": code, "name": name, "active": true, "enabled": true,
                   "type": health_center, "geographicZone": zone})
        })
        .collect()
}

/// The programs as `GET /api/programs` lists them.
pub fn programs() -> Vec<Value> {
    PROGRAMS
        .iter()
        .map(|(id, code, name, skippable, skip_auth)| {
            json!({"id": id, "code": code, "name": name, "description": name, "active": true,
                   "periodsSkippable": skippable, "skipAuthorization": skip_auth,
                   "showNonFullSupplyTab": false, "enableDatePhysicalStockCountCompleted": false})
        })
        .collect()
}
