//! The configured OpenCRVS deployment: service URLs, generation, credentials, and the
//! client-credentials token.

use kit::auth::{self, Login, Token};
use kit::error::{self, AuthFailure, Error};
use kit::http::{Request, Response};
use kit::request::Call;
use kit::url::Url;
use kit::wit::types::Method;
use serde_json::Value;

use crate::Service;
use crate::version::Version;

/// One OpenCRVS deployment, as the job's configuration describes it.
pub struct Server {
    domain: Option<String>,
    services: serde_json::Map<String, Value>,
    pub version: Version,
    credentials: Credentials,
}

enum Credentials {
    /// `configuration.access_token`, used as it is.
    Token(String),
    /// A system client's id and secret for the client-credentials grant.
    Client { id: String, secret: String },
}

impl Server {
    /// Reads the configuration: `domain` and/or `services`, `version`, and either
    /// `access_token` or `clientId` + `clientSecret`.
    pub fn from_configuration() -> Result<Server, Error> {
        let config = kit::config::get();
        let domain = config.optional("domain")?.map(str::to_string);
        let services = match config.value("services") {
            None | Some(Value::Null) => serde_json::Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => {
                return Err(error::configuration(
                    "services",
                    "must be an object of base URLs, e.g. {\"gateway\": \"http://127.0.0.1:7070\"}",
                ));
            }
        };
        let version = Version::parse(config.optional("version")?)?;
        let credentials = match config.optional("access_token")? {
            Some(token) => Credentials::Token(token.to_string()),
            None => Credentials::Client {
                id: config
                    .required("clientId", "the system client's id (or set access_token)")?
                    .into(),
                secret: config
                    .required("clientSecret", "the system client's secret (or set access_token)")?
                    .into(),
            },
        };
        Ok(Server {
            domain,
            services,
            version,
            credentials,
        })
    }

    /// The base URL of `service`: `services.<service>`, else `https://<service>.<domain>`.
    pub fn base(&self, service: Service) -> Result<Url, Error> {
        let name = service_name(service);
        match self.services.get(name) {
            Some(Value::String(url)) => kit::url::parse_base(&format!("services.{name}"), url),
            Some(_) => Err(error::configuration(
                &format!("services.{name}"),
                "must be a URL string",
            )),
            None => match &self.domain {
                Some(domain) => kit::url::parse_base("domain", &format!("https://{name}.{domain}")),
                None => Err(error::configuration(
                    "domain",
                    &format!(
                        "is missing: expected the deployment's domain, e.g. farajaland.opencrvs.org (or services.{name})"
                    ),
                )),
            },
        }
    }

    /// `path` on `service`, keeping the service URL's own path.
    pub fn url(&self, service: Service, path: &str) -> Result<Url, Error> {
        kit::url::join(&self.base(service)?, "", path)
    }

    /// The token endpoint: `{auth}/token`, or `{gateway}/auth/token` on 2.0 (which has
    /// no auth service of its own).
    fn token_url(&self) -> Result<Url, Error> {
        match self.version {
            Version::V2_0 => self.url(Service::Gateway, "auth/token"),
            _ => self.url(Service::Auth, "token"),
        }
    }

    fn cache_key(&self) -> String {
        match &self.credentials {
            Credentials::Client { id, .. } => {
                format!("{}|{id}", self.token_url().map(|u| u.to_string()).unwrap_or_default())
            }
            Credentials::Token(_) => String::new(),
        }
    }

    /// `POST {token endpoint}?grant_type=client_credentials&client_id=..&client_secret=..`:
    /// the parameters in the query string, which every version accepts. The token's life
    /// comes from its JWT `exp` (the response has no `expires_in`).
    fn request_token(&self) -> Result<Token, Error> {
        let Credentials::Client { id, secret } = &self.credentials else {
            unreachable!("tokens are requested only for client credentials");
        };
        kit::log::info("requesting an OpenCRVS system token");
        let mut url = self.token_url()?;
        url.query_pairs_mut()
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", id)
            .append_pair("client_secret", secret);
        let mut call = Call::new(Request::new(Method::Post, url), None)?;
        call.hide_query = true;
        call.set_header("content-type", "application/json");
        call.set_header("accept", "*/*");
        let (response, _) = call.exchange()?;
        if response.status >= 400 {
            return Err(token_error(&call, &response));
        }
        let body: Value = serde_json::from_slice(&response.body)
            .map_err(|e| error::parse(format!("the token response is not JSON ({e})")))?;
        let token = body
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| error::parse("the token response has no access_token"))?;
        let expires_in = auth::jwt_expiry(token).map(auth::seconds_until);
        if expires_in.is_none() {
            kit::log::warn("the token has no readable exp claim; it will be used until the server rejects it");
        }
        Ok(Token::new(token.to_string(), expires_in))
    }
}

/// Says which credential the token endpoint refused.
fn token_error(call: &Call, response: &Response) -> Error {
    let body = kit::request::parse_json_or_text(&response.body);
    let reason = match (response.status, body.get("error").and_then(Value::as_str)) {
        (401, _) => "token refused: the client id or secret is wrong, or the client is deactivated (invalid_client)",
        (400, Some("invalid_request")) => "token refused: a parameter is missing (invalid_request)",
        (400, Some("unsupported_grant_type")) => {
            "token refused: the grant type is not supported (unsupported_grant_type)"
        }
        _ => return Error::Http(call.failure(response)),
    };
    Error::Unauthorized(AuthFailure {
        reason: reason.into(),
        exchange: call.failure(response),
    })
}

impl Login for Server {
    fn token(&self) -> Result<String, Error> {
        match &self.credentials {
            Credentials::Token(token) => Ok(token.clone()),
            Credentials::Client { .. } => auth::token(&self.cache_key(), || self.request_token()),
        }
    }

    fn can_renew(&self) -> bool {
        matches!(self.credentials, Credentials::Client { .. })
    }

    fn forget(&self) {
        auth::forget(&self.cache_key());
    }
}

/// The name of a service in URLs and in `services`.
pub fn service_name(service: Service) -> &'static str {
    match service {
        Service::Gateway => "gateway",
        Service::Register => "register",
        Service::Countryconfig => "countryconfig",
        Service::Auth => "auth",
        Service::Webhooks => "webhooks",
    }
}
