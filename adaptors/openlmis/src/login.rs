//! Logging in to OpenLMIS: the OAuth2 password grant with HTTP Basic client
//! authentication, or a ready `access_token` from the configuration.

use kit::auth::{self, Login, Token};
use kit::error::{self, AuthFailure};
use kit::http::Request;
use kit::request::Call;
use kit::url::Url;
use kit::wit::types::{Error, Method};

/// The configured server and how to authenticate to it.
pub struct Server {
    base_url: Url,
    credentials: Credentials,
}

enum Credentials {
    /// `configuration.access_token`: used as it is, no login.
    Token(String),
    /// The password grant.
    Password {
        username: String,
        password: String,
        client_id: String,
        client_secret: String,
    },
}

impl Server {
    /// Reads `baseUrl` and the credentials from the job's configuration: either
    /// `access_token`, or all of `username`, `password`, `clientId` and `clientSecret`.
    pub fn from_configuration() -> Result<Server, Error> {
        let config = kit::config::get();
        let base_url = kit::url::parse_base(
            "baseUrl",
            config.required(
                "baseUrl",
                "the OpenLMIS server's URL, e.g. https://demo-v3.openlmis.org",
            )?,
        )?;
        let credentials = match config.optional("access_token")? {
            Some(token) => Credentials::Token(token.to_string()),
            None => Credentials::Password {
                username: config
                    .required("username", "the OpenLMIS user name (or set access_token)")?
                    .into(),
                password: config
                    .required("password", "the OpenLMIS user's password (or set access_token)")?
                    .into(),
                client_id: config
                    .required("clientId", "the OAuth client id, e.g. user-client")?
                    .into(),
                client_secret: config.required("clientSecret", "the OAuth client secret")?.into(),
            },
        };
        Ok(Server { base_url, credentials })
    }

    /// The configured base URL.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    fn cache_key(&self) -> String {
        match &self.credentials {
            Credentials::Password {
                username, client_id, ..
            } => format!("{}|{username}|{client_id}", self.base_url),
            Credentials::Token(_) => String::new(),
        }
    }

    /// `POST {baseUrl}/api/oauth/token` with the user's credentials in a form body.
    fn login(&self) -> Result<Token, Error> {
        let Credentials::Password {
            username,
            password,
            client_id,
            client_secret,
        } = &self.credentials
        else {
            unreachable!("login is only called for password credentials");
        };
        kit::log::info("logging in to OpenLMIS as the configured user");
        let url = kit::url::join(&self.base_url, "api", "oauth/token")?;
        let mut request = Request::new(Method::Post, url);
        request.body = Some(
            kit::url::form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "password")
                .append_pair("username", username)
                .append_pair("password", password)
                .finish()
                .into_bytes(),
        );
        let mut call = Call::new(request, None)?;
        call.set_header("authorization", &auth::basic(client_id, client_secret));
        call.set_header("content-type", "application/x-www-form-urlencoded");
        call.set_header("accept", "application/json");
        let (response, _) = call.exchange()?;
        if response.status >= 400 {
            let body = kit::request::parse_json_or_text(&response.body);
            let code = body.get("error").and_then(|e| e.as_str()).unwrap_or_default();
            let reason = match (response.status, code) {
                (400, "invalid_grant") => {
                    "login refused: the user's username or password is wrong, or the user is locked out (invalid_grant)"
                }
                (401, _) => "login refused: the OAuth client credentials (clientId/clientSecret) were not accepted",
                (400, "invalid_client") => {
                    "login refused: this OAuth client may not use the password grant (invalid_client)"
                }
                _ => return Err(Error::Http(call.failure(&response))),
            };
            return Err(Error::Unauthorized(AuthFailure {
                reason: reason.into(),
                exchange: call.failure(&response),
            }));
        }
        let body: serde_json::Value = serde_json::from_slice(&response.body)
            .map_err(|e| error::parse(format!("the token response is not JSON ({e})")))?;
        let access_token = body
            .get("access_token")
            .and_then(|t| t.as_str())
            .ok_or_else(|| error::parse("the token response has no access_token"))?;
        Ok(Token::new(
            access_token.to_string(),
            body.get("expires_in").and_then(|e| e.as_u64()),
        ))
    }
}

impl Login for Server {
    fn token(&self) -> Result<String, Error> {
        match &self.credentials {
            Credentials::Token(token) => {
                kit::log::debug("using the access token from the configuration");
                Ok(token.clone())
            }
            Credentials::Password { .. } => auth::token(&self.cache_key(), || self.login()),
        }
    }

    fn can_renew(&self) -> bool {
        matches!(self.credentials, Credentials::Password { .. })
    }

    fn forget(&self) {
        auth::forget(&self.cache_key());
    }
}
