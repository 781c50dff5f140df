//! Webhook subscriptions (OpenCRVS 1.x): `{webhooks}/webhooks`.

use kit::Output;
use kit::error::{self, Error};
use kit::wit::types::Method;
use serde_json::json;

use crate::api::Api;
use crate::version::Version;
use crate::{Service, Topic};

fn require_webhooks(api: &Api, operation: &str) -> Result<(), Error> {
    match api.server.version {
        Version::V2_0 => Err(api
            .server
            .version
            .unavailable(operation, "webhooks were removed; use country-config action triggers")),
        _ => Ok(()),
    }
}

/// The topic's name on the wire, e.g. `BIRTH_REGISTERED`.
pub fn topic_name(topic: Topic) -> &'static str {
    match topic {
        Topic::BirthRegistered => "BIRTH_REGISTERED",
        Topic::DeathRegistered => "DEATH_REGISTERED",
        Topic::BirthCertified => "BIRTH_CERTIFIED",
        Topic::DeathCertified => "DEATH_CERTIFIED",
        Topic::BirthCorrected => "BIRTH_CORRECTED",
        Topic::DeathCorrected => "DEATH_CORRECTED",
    }
}

/// `POST {webhooks}/webhooks` `{hub: {callback, mode: "subscribe", topic, secret}}`.
pub fn subscribe(api: &Api, callback: &str, topic: Topic, secret: &str) -> Result<Output, Error> {
    require_webhooks(api, "subscribe")?;
    if kit::url::Url::parse(callback).is_err() {
        return Err(error::invalid_argument(format!(
            "callback {callback:?} is not an absolute URL"
        )));
    }
    let body =
        json!({"hub": {"callback": callback, "mode": "subscribe", "topic": topic_name(topic), "secret": secret}});
    api.request(Method::Post, Service::Webhooks, "webhooks", Some(&body))
}

/// `GET {webhooks}/webhooks`; `data` is the list of this client's subscriptions.
pub fn list(api: &Api) -> Result<Output, Error> {
    require_webhooks(api, "listSubscriptions")?;
    let mut output = api.request(Method::Get, Service::Webhooks, "webhooks", None)?;
    output.data = output.data["entries"].take();
    Ok(output)
}

/// `DELETE {webhooks}/webhooks/{id}`.
pub fn unsubscribe(api: &Api, id: &str) -> Result<Output, Error> {
    require_webhooks(api, "unsubscribe")?;
    let mut url = api.server.url(Service::Webhooks, "webhooks")?;
    url.path_segments_mut()
        .map_err(|()| error::invalid_argument("bad webhooks URL"))?
        .push(id);
    let call = api.call(Method::Delete, url, None, None)?;
    api.finish(call)
}
