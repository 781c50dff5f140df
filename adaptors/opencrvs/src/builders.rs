//! Typed builders for the FHIR resources of an OpenCRVS (1.x) event notification:
//! Composition with sections, Task, Patient, RelatedPerson, Encounter, Observation,
//! and Location references, shaped as the gateway's validation requires (entry 0 the
//! Composition, entry 1 a draft Task pointing at it and at the office).

use serde_json::{Value, json};

use crate::{Address, BirthNotification, DeathNotification, Person};

const SECTIONS: &str = "http://opencrvs.org/specs/sections";
const EXTENSION: &str = "http://opencrvs.org/specs/extension";

/// A new `urn:uuid:` full URL.
fn urn() -> String {
    format!("urn:uuid:{}", uuid::Uuid::new_v4())
}

fn entry(full_url: &str, resource: Value) -> Value {
    json!({"fullUrl": full_url, "resource": resource})
}

fn address(address: &Address) -> Value {
    let mut value = json!({
        "type": "PRIMARY_ADDRESS",
        "line": address.line.clone().unwrap_or_default(),
        "country": address.country.clone().unwrap_or_else(|| "FAR".into()),
    });
    if let Some(district) = &address.district {
        value["district"] = json!(district);
    }
    if let Some(state) = &address.state {
        value["state"] = json!(state);
    }
    value
}

/// A `Patient` for `person`.
fn patient(person: &Person) -> Value {
    let mut patient = json!({
        "resourceType": "Patient",
        "active": true,
        "name": [{"use": "en", "given": person.name.given, "family": person.name.family}],
    });
    if let Some(gender) = &person.gender {
        patient["gender"] = json!(gender);
    }
    if let Some(date) = &person.birth_date {
        patient["birthDate"] = json!(date);
    }
    if let Some(id) = &person.national_id {
        patient["identifier"] = json!([{"use": "official", "value": id,
            "type": {"coding": [{"system": "http://opencrvs.org/specs/identifier-type", "code": "NATIONAL_ID"}]}}]);
    }
    if let Some(phone) = &person.phone {
        patient["telecom"] = json!([{"system": "phone", "value": phone}]);
    }
    if let Some(home) = &person.address {
        patient["address"] = json!([address(home)]);
    }
    patient
}

fn section(code: &str, title: &str, reference: &str) -> Value {
    json!({"title": title, "code": {"coding": [{"system": SECTIONS, "code": code}], "text": title},
           "entry": [{"reference": reference}]})
}

fn observation(encounter: &str, code: &str, display: &str, value: Value) -> Value {
    let mut observation = json!({
        "resourceType": "Observation", "status": "final",
        "context": {"reference": encounter},
        "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": display}]},
    });
    let (key, value) = match value {
        Value::Object(map) => (
            map.keys().next().cloned().unwrap_or_default(),
            map.into_iter().next().map(|(_, v)| v),
        ),
        other => ("valueString".into(), Some(other)),
    };
    observation[key] = value.unwrap_or(Value::Null);
    observation
}

/// What kind of notification a document is.
#[derive(Clone, Copy)]
struct Kind {
    doc_type: &'static str,
    event_code: &'static str,
    title: &'static str,
}

const BIRTH: Kind = Kind {
    doc_type: "birth-notification",
    event_code: "BIRTH",
    title: "Birth Notification",
};
const DEATH: Kind = Kind {
    doc_type: "death-notification",
    event_code: "DEATH",
    title: "Death Notification",
};

/// The Composition, the Task and the common tail of every notification.
struct Document {
    composition: String,
    entries: Vec<Value>,
    sections: Vec<Value>,
}

impl Document {
    fn new() -> Document {
        Document {
            composition: urn(),
            entries: Vec::new(),
            sections: Vec::new(),
        }
    }

    fn add(&mut self, resource: Value) -> String {
        let full_url = urn();
        self.entries.push(entry(&full_url, resource));
        full_url
    }

    /// The entries: Composition, Task, then the resources in the order added.
    fn finish(self, kind: &Kind, subject: &str, office: &str, phone: &str, informant: &str) -> Value {
        let Kind {
            doc_type,
            event_code,
            title,
        } = *kind;
        let composition = json!({
            "resourceType": "Composition", "status": "preliminary", "title": title,
            "identifier": {"system": "urn:ietf:rfc:3986", "value": self.composition},
            "type": {"coding": [{"system": "http://opencrvs.org/doc-types", "code": doc_type}], "text": title},
            "class": {"coding": [{"system": "http://opencrvs.org/specs/classes", "code": "crvs-document"}]},
            "subject": {"reference": subject},
            "date": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()).to_string(),
            "author": [], "section": self.sections,
        });
        let task = json!({
            "resourceType": "Task", "status": "draft", "intent": "unknown", "identifier": [],
            "code": {"coding": [{"system": "http://opencrvs.org/specs/types", "code": event_code}]},
            "focus": {"reference": self.composition},
            "extension": [
                {"url": format!("{EXTENSION}/contact-person"), "valueString": informant},
                {"url": format!("{EXTENSION}/contact-person-phone-number"), "valueString": phone},
                {"url": format!("{EXTENSION}/timeLoggedMS"), "valueInteger": 0},
                {"url": format!("{EXTENSION}/in-complete-fields"), "valueString": "N/A"},
                {"url": format!("{EXTENSION}/regLastOffice"), "valueReference": {"reference": format!("Location/{office}")}}
            ]
        });
        let mut all = vec![entry(&self.composition, composition), entry(&urn(), task)];
        all.extend(self.entries);
        Value::Array(all)
    }
}

/// The entries of a birth notification.
pub fn birth(n: &BirthNotification) -> Value {
    let mut doc = Document::new();
    let child = doc.add(patient(&n.child));
    doc.sections.push(section("child-details", "Child details", &child));
    let mut mother = patient(&n.mother);
    mother["gender"] = json!("female");
    let mother = doc.add(mother);
    doc.sections
        .push(section("mother-details", "Mother's details", &mother));
    let father = n.father.as_ref().map(|father| {
        let mut father = patient(father);
        father["gender"] = json!("male");
        let father = doc.add(father);
        doc.sections
            .push(section("father-details", "Father's details", &father));
        father
    });
    let relationship = n.informant.clone().unwrap_or_else(|| "MOTHER".into());
    let informant_person = match (relationship.as_str(), &father) {
        ("FATHER", Some(father)) => father.clone(),
        _ => mother.clone(),
    };
    let informant = doc.add(json!({
        "resourceType": "RelatedPerson",
        "relationship": {"coding": [{"system": "http://hl7.org/fhir/ValueSet/relatedperson-relationshiptype", "code": relationship}]},
        "patient": {"reference": informant_person}
    }));
    doc.sections
        .push(section("informant-details", "Informant's details", &informant));
    let encounter = doc.add(json!({
        "resourceType": "Encounter", "status": "finished",
        "location": [{"location": {"reference": format!("Location/{}", n.place_of_birth)}}]
    }));
    doc.sections
        .push(section("birth-encounter", "Birth encounter", &encounter));
    if let Some(kg) = n.weight_kg {
        doc.add(observation(
            &encounter,
            "3141-9",
            "Body weight Measured",
            json!({"valueQuantity": {"value": kg, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}),
        ));
    }
    if let Some(attendant) = &n.attendant {
        doc.add(observation(
            &encounter,
            "73764-3",
            "Birth attendant title",
            json!(attendant),
        ));
    }
    if let Some(multiple) = n.multiple_birth {
        let plurality = if multiple { "MULTIPLE" } else { "SINGLE" };
        doc.add(observation(
            &encounter,
            "57722-1",
            "Birth plurality of Pregnancy",
            json!({"valueQuantity": {"value": plurality}}),
        ));
    }
    doc.finish(&BIRTH, &child, &n.office, &n.contact_phone, &relationship)
}

/// The entries of a death notification.
pub fn death(n: &DeathNotification) -> Value {
    let mut doc = Document::new();
    let mut deceased = patient(&n.deceased);
    deceased["deceasedBoolean"] = json!(true);
    deceased["deceasedDateTime"] = json!(n.date_of_death);
    let deceased = doc.add(deceased);
    doc.sections
        .push(section("deceased-details", "Deceased details", &deceased));
    let informant_person = doc.add(patient(&n.informant));
    let informant = doc.add(json!({
        "resourceType": "RelatedPerson",
        "relationship": {"coding": [{"system": "http://hl7.org/fhir/ValueSet/relatedperson-relationshiptype", "code": n.informant_relationship}]},
        "patient": {"reference": informant_person}
    }));
    doc.sections
        .push(section("informant-details", "Informant's details", &informant));
    let encounter = doc.add(json!({
        "resourceType": "Encounter", "status": "finished",
        "location": [{"location": {"reference": format!("Location/{}", n.place_of_death)}}]
    }));
    doc.sections
        .push(section("death-encounter", "Death encounter", &encounter));
    if let Some(manner) = &n.manner_of_death {
        doc.add(observation(&encounter, "uncertified-manner-of-death", "Uncertified manner of death", json!({"valueCodeableConcept": {"coding": [{"system": "http://hl7.org/fhir/ValueSet/icd-10", "code": manner}]}})));
    }
    if let Some(cause) = &n.cause_of_death {
        doc.add(observation(
            &encounter,
            "cause-of-death-established",
            "Cause of death established",
            json!("true"),
        ));
        doc.add(observation(&encounter, "ICD10", "Cause of death", json!({"valueCodeableConcept": {"coding": [{"system": "http://hl7.org/fhir/ValueSet/icd-10", "code": cause}]}})));
    }
    doc.finish(
        &DEATH,
        &deceased,
        &n.office,
        &n.contact_phone,
        &n.informant_relationship,
    )
}
