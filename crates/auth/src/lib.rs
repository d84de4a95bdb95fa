//! Who is calling onestop, and what they may do.
//!
//! A credential is a JSON Web Token signed with Ed25519 (`alg: EdDSA`), its header naming the key (`kid`) so keys
//! can be rotated: a verifier holds every public key still accepted, an issuer signs with one private key. A
//! service verifies tokens from its configuration alone, without a database round trip.
//!
//! Principals ([`Role`]): one-stop software acting for a listed set of centers, a provincial office (reads its
//! province, publishes its catalogue), a national reader, and a onestop service calling another.
//!
//! Keys have one job each. An issuer key signs principals' tokens (any role but `service`, for at most
//! [`MAX_PRINCIPAL_LIFETIME`], addressed to every service); it stays where tokens are issued and never sits in a
//! service. Each service that calls others has a key of its own, trusted only for that service's own short-lived
//! calls: role `service`, its own name as subject, scopes within [`SERVICE_SCOPES`], addressed to the one service
//! called. So a service process holds nothing that could mint a person's token.

pub mod command;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};

/// What a principal may do, beyond who it is.
pub const SCOPE_PUSH: &str = "push";
pub const SCOPE_READ: &str = "read";
pub const SCOPE_PUBLISH: &str = "publish";
pub const SCOPE_DEFINE: &str = "define";
/// Following another service's change stream.
pub const SCOPE_FOLLOW: &str = "follow";
/// Submitting one's own periodic reports, and approving or returning those of the units below.
pub const SCOPE_REPORT: &str = "report";

/// The only scopes a service's own key may grant: services read from and follow each other, nothing more.
pub const SERVICE_SCOPES: [&str; 2] = [SCOPE_READ, SCOPE_FOLLOW];

/// The audience of principals' tokens: every onestop service. A service's token names the one service it calls.
pub const AUDIENCE_ONESTOP: &str = "onestop";

/// Longest a principal's token may live, in days (`onestop-token issue --days`) and in seconds.
pub const MAX_PRINCIPAL_DAYS: i64 = 400;
pub const MAX_PRINCIPAL_LIFETIME: i64 = MAX_PRINCIPAL_DAYS * 86_400;

/// How long the tokens a service mints for each call live, and the longest a service's token may live: a stolen
/// one is soon useless.
pub const SERVICE_TOKEN_LIFETIME: i64 = 300;
pub const MAX_SERVICE_LIFETIME: i64 = 600;

/// Text that must never be printed: a private key or a token. `Debug` and `Display` show `[redacted]`; the text
/// itself is only had by asking for it with [`Secret::expose`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    /// The secret text, for the one place that needs it (a signer, a header, a file written on purpose).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// So that flags and environment variables parse straight into a secret.
impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Secret, Self::Err> {
        Ok(Secret::new(text))
    }
}

/// The kind of principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// One-stop software pushing for the centers listed in `centers`.
    Software,
    /// A provincial office: reads the units of `province` and publishes its catalogue.
    Province,
    /// Reads everything, and approves provinces' periodic reports.
    National,
    /// A onestop service calling another.
    Service,
    /// A locality's people's committee (a commune, or a district before 7/2025): reads the unit of `unit` and
    /// the units under it, and submits that unit's periodic reports.
    Unit,
    /// A provincial department or agency: reads what the agency of `agency` implements and resolves, and submits
    /// its periodic reports.
    Agency,
}

/// The claims a token carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Who: a vendor system, an office, a service name.
    pub sub: String,
    pub role: Role,
    /// For software: the centers it may push for and read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub centers: Vec<String>,
    /// For a provincial office: its province's unit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub province: Option<String>,
    /// For a locality: its unit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// For a department or agency: its agency code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency: Option<String>,
    pub scopes: Vec<String>,
    /// Whom the token is for: [`AUDIENCE_ONESTOP`] (every service) for a principal, the service called for a
    /// service's own call. Missing reads as empty, which no service accepts.
    #[serde(default)]
    pub aud: String,
    /// Issued at and expires at, in seconds since the Unix epoch.
    pub iat: i64,
    pub exp: i64,
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    pub role: Role,
    pub centers: BTreeSet<String>,
    pub province: Option<String>,
    pub unit: Option<String>,
    pub agency: Option<String>,
    pub scopes: BTreeSet<String>,
}

impl Principal {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }

    /// May push for, or read the cases of, `center`.
    pub fn acts_for_center(&self, center: &str) -> bool {
        self.role == Role::Software && self.centers.contains(center)
    }
}

impl From<Claims> for Principal {
    fn from(c: Claims) -> Self {
        Principal {
            subject: c.sub,
            role: c.role,
            centers: c.centers.into_iter().collect(),
            province: c.province,
            unit: c.unit,
            agency: c.agency,
            scopes: c.scopes.into_iter().collect(),
        }
    }
}

/// Why a token was not accepted. Every variant means "unauthenticated": the caller is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no credential: send `authorization: Bearer <token>`")]
    Missing,
    #[error("the token is malformed: {0}")]
    Malformed(String),
    #[error("the token is signed with key {0:?}, which is not accepted")]
    UnknownKey(String),
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token is for {audience:?}, not for {service}")]
    WrongAudience { audience: String, service: String },
    #[error("the token lives {seconds} s, longer than the {max} s its key may sign for")]
    TooLongLived { seconds: i64, max: i64 },
    /// The token claims more than its key may sign: a role, a subject or a scope.
    #[error("key {kid:?} {why}")]
    BeyondItsKey { kid: String, why: String },
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    typ: String,
    kid: String,
}

/// A private key with its id.
#[derive(Clone)]
pub struct Issuer {
    kid: String,
    key: SigningKey,
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl Issuer {
    /// A fresh key from the operating system's randomness.
    pub fn generate(kid: &str) -> Issuer {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("the operating system's randomness");
        Issuer { kid: kid.to_owned(), key: SigningKey::from_bytes(&seed) }
    }

    /// From `kid=<base64 of the 32-byte seed>`, the form the `onestop-token` command prints.
    pub fn parse(text: &str) -> Result<Issuer, String> {
        let (kid, seed) = split_key(text)?;
        let seed = key_bytes(&kid, &seed, "private")?;
        Ok(Issuer { kid, key: SigningKey::from_bytes(&seed) })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// `kid=<base64 seed>`: keep it secret.
    pub fn private_text(&self) -> Secret {
        Secret(format!("{}={}", self.kid, STANDARD.encode(self.key.to_bytes())))
    }

    /// `kid=<base64 public key>`: what verifiers are given for an issuer key (`AUTH_PUBLIC_KEYS`).
    pub fn public_text(&self) -> String {
        format!("{}={}", self.kid, STANDARD.encode(self.key.verifying_key().to_bytes()))
    }

    /// `service:kid=<base64 public key>`: what verifiers are given for the key of `service`
    /// (`SERVICE_PUBLIC_KEYS`), trusted only for that service's own calls.
    pub fn service_public_text(&self, service: &str) -> String {
        format!("{service}:{}", self.public_text())
    }

    /// Signs `claims` into a token.
    pub fn issue(&self, claims: &Claims) -> String {
        let header = Header { alg: "EdDSA".into(), typ: "JWT".into(), kid: self.kid.clone() };
        let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("serialisable"));
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("serialisable"));
        let signed = format!("{header}.{payload}");
        let signature = URL_SAFE_NO_PAD.encode(self.key.sign(signed.as_bytes()).to_bytes());
        format!("{signed}.{signature}")
    }
}

fn split_key(text: &str) -> Result<(String, String), String> {
    let (kid, key) = text.trim().split_once('=').ok_or_else(|| format!("{text:?} is not kid=key"))?;
    if kid.is_empty() || !kid.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(format!("key id {kid:?}: letters, digits, '-', '_' and '.' only"));
    }
    Ok((kid.to_owned(), key.to_owned()))
}

/// The 32 bytes of a base64 key; errors name the key (`kind` is "public" or "private") and its id.
fn key_bytes(kid: &str, key: &str, kind: &str) -> Result<[u8; 32], String> {
    STANDARD
        .decode(key.trim())
        .map_err(|e| format!("{kind} key of {kid}: {e}"))?
        .try_into()
        .map_err(|_| format!("{kind} key of {kid}: not 32 bytes"))
}

/// What a trusted public key may sign.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Signs {
    /// Principals' tokens, any role but `service`.
    Principals,
    /// The named service's own calls, and nothing else.
    Calls(String),
}

/// The public keys a service accepts, by id, each with what it may sign.
#[derive(Debug, Clone, Default)]
pub struct Verifier {
    keys: HashMap<String, (VerifyingKey, Signs)>,
    /// Clock skew tolerated on expiry and issue time, in seconds.
    leeway: i64,
}

impl Verifier {
    /// Trusts the issuer keys in `text`, `kid=<base64 public key>` entries separated by commas.
    pub fn parse(text: &str) -> Result<Verifier, String> {
        let mut verifier = Verifier { keys: HashMap::new(), leeway: 60 };
        for entry in text.split(',').filter(|e| !e.trim().is_empty()) {
            verifier.trust(entry, Signs::Principals)?;
        }
        if verifier.keys.is_empty() {
            return Err("no public key given".into());
        }
        Ok(verifier)
    }

    /// Also trusts the service keys in `text`, `service:kid=<base64 public key>` entries separated by commas,
    /// each only for that service's own calls.
    pub fn trust_services(mut self, text: &str) -> Result<Verifier, String> {
        for entry in text.split(',').filter(|e| !e.trim().is_empty()) {
            let (service, key) =
                entry.trim().split_once(':').ok_or_else(|| format!("{entry:?} is not service:kid=key"))?;
            if service.is_empty() || !service.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                return Err(format!("service name {service:?}: lowercase letters, digits and '-' only"));
            }
            self.trust(key, Signs::Calls(service.to_owned()))?;
        }
        Ok(self)
    }

    fn trust(&mut self, entry: &str, signs: Signs) -> Result<(), String> {
        let (kid, key) = split_key(entry)?;
        let bytes = key_bytes(&kid, &key, "public")?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|e| format!("public key of {kid}: {e}"))?;
        // One id, one key, one job: otherwise which rules a token meets would depend on the order of the lists.
        if self.keys.contains_key(&kid) {
            return Err(format!("key id {kid:?} given twice"));
        }
        self.keys.insert(kid, (key, signs));
        Ok(())
    }

    /// The principal of a valid token addressed to service `audience` (such as "catalogue"), at `now` (seconds
    /// since the epoch).
    pub fn verify(&self, token: &str, audience: &str, now: i64) -> Result<Principal, AuthError> {
        self.verify_claims(token, audience, now).map(Principal::from)
    }

    /// The claims of a valid token, as [`Verifier::verify`] checks it: for a holder that needs its expiry too.
    pub fn verify_claims(&self, token: &str, audience: &str, now: i64) -> Result<Claims, AuthError> {
        let malformed = |what: &str| AuthError::Malformed(what.to_owned());
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("not three dot-separated parts"));
        };
        let header: Header = URL_SAFE_NO_PAD
            .decode(header)
            .ok()
            .and_then(|h| serde_json::from_slice(&h).ok())
            .ok_or_else(|| malformed("header"))?;
        if header.alg != "EdDSA" {
            return Err(AuthError::Malformed(format!("algorithm {:?}; only EdDSA is accepted", header.alg)));
        }
        let (key, signs) = self.keys.get(&header.kid).ok_or_else(|| AuthError::UnknownKey(header.kid.clone()))?;
        let signature: [u8; 64] = URL_SAFE_NO_PAD
            .decode(signature)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| malformed("signature"))?;
        let signed_len = token.len() - token.rsplit('.').next().map_or(0, str::len) - 1;
        key.verify(&token.as_bytes()[..signed_len], &Signature::from_bytes(&signature))
            .map_err(|_| AuthError::BadSignature)?;
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|p| serde_json::from_slice(&p).ok())
            .ok_or_else(|| malformed("claims"))?;
        if now > claims.exp + self.leeway {
            return Err(AuthError::Expired);
        }
        if claims.iat > now + self.leeway {
            return Err(AuthError::NotYetValid);
        }
        within_key(&header.kid, signs, &claims, audience)?;
        Ok(claims)
    }
}

/// Whether `claims` stay within what the key `kid` may sign, for a call to `audience`.
fn within_key(kid: &str, signs: &Signs, claims: &Claims, audience: &str) -> Result<(), AuthError> {
    let beyond = |why: String| Err(AuthError::BeyondItsKey { kid: kid.to_owned(), why });
    let (max_lifetime, addressed_here) = match signs {
        Signs::Principals => {
            // A service's identity comes only from its own key, so `service` tokens are never issued by hand.
            if claims.role == Role::Service {
                return beyond("issues principals' tokens; a service's token is signed with that service's key".into());
            }
            (MAX_PRINCIPAL_LIFETIME, claims.aud == AUDIENCE_ONESTOP || claims.aud == audience)
        }
        Signs::Calls(service) => {
            if claims.role != Role::Service || claims.sub != *service {
                return beyond(format!(
                    "signs only {service}'s own calls, not a token of {:?} {:?}",
                    claims.role, claims.sub
                ));
            }
            if let Some(scope) = claims.scopes.iter().find(|s| !SERVICE_SCOPES.contains(&s.as_str())) {
                return beyond(format!("grants {service} only scopes {SERVICE_SCOPES:?}, not {scope:?}"));
            }
            if !claims.centers.is_empty()
                || claims.province.is_some()
                || claims.unit.is_some()
                || claims.agency.is_some()
            {
                return beyond(format!("signs {service}'s calls, which name no center, province, unit or agency"));
            }
            // Only the service called: a token one service received is no use at another.
            (MAX_SERVICE_LIFETIME, claims.aud == audience)
        }
    };
    if claims.exp - claims.iat > max_lifetime {
        return Err(AuthError::TooLongLived { seconds: claims.exp - claims.iat, max: max_lifetime });
    }
    if !addressed_here {
        return Err(AuthError::WrongAudience { audience: claims.aud.clone(), service: audience.to_owned() });
    }
    Ok(())
}

/// Seconds since the Unix epoch now.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Claims for `sub` in `role` with `scopes`, for every service ([`AUDIENCE_ONESTOP`]), valid for `seconds` from
/// now.
pub fn claims(sub: &str, role: Role, scopes: &[&str], seconds: i64) -> Claims {
    let iat = now();
    Claims {
        sub: sub.to_owned(),
        role,
        centers: vec![],
        province: None,
        unit: None,
        agency: None,
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        aud: AUDIENCE_ONESTOP.to_owned(),
        iat,
        exp: iat + seconds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The service the tokens of these tests are presented to.
    const HERE: &str = "catalogue";

    fn software() -> Claims {
        Claims { centers: vec!["BPMC-1".into()], ..claims("vendor-a", Role::Software, &[SCOPE_PUSH], 3600) }
    }

    fn service_call(sub: &str, scopes: &[&str]) -> Claims {
        Claims { aud: HERE.into(), ..claims(sub, Role::Service, scopes, SERVICE_TOKEN_LIFETIME) }
    }

    /// Trusts `issuer` for principals and `intake` for intake's own calls.
    fn verifier(issuer: &Issuer, intake: &Issuer) -> Verifier {
        Verifier::parse(&issuer.public_text()).unwrap().trust_services(&intake.service_public_text("intake")).unwrap()
    }

    #[test]
    fn a_signed_token_verifies_into_its_principal() {
        let issuer = Issuer::generate("k1");
        let verifier = Verifier::parse(&issuer.public_text()).unwrap();
        let principal = verifier.verify(&issuer.issue(&software()), HERE, now()).unwrap();
        assert_eq!(principal.role, Role::Software);
        assert!(principal.acts_for_center("BPMC-1") && !principal.acts_for_center("BPMC-2"));
        assert!(principal.has_scope(SCOPE_PUSH) && !principal.has_scope(SCOPE_READ));
        let again = Issuer::parse(issuer.private_text().expose()).unwrap();
        assert_eq!(verifier.verify(&again.issue(&software()), HERE, now()).unwrap(), principal);
    }

    #[test]
    fn expired_forged_unknown_and_malformed_tokens_are_refused() {
        let issuer = Issuer::generate("k1");
        let verifier = Verifier::parse(&issuer.public_text()).unwrap();
        let token = issuer.issue(&software());
        assert_eq!(verifier.verify(&token, HERE, now() + 3600 + 61), Err(AuthError::Expired));
        assert_eq!(verifier.verify(&token, HERE, now() - 120), Err(AuthError::NotYetValid));

        // Claims changed after signing: more centers.
        let mut parts: Vec<String> = token.split('.').map(String::from).collect();
        let mut forged = software();
        forged.centers.push("BPMC-2".into());
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(verifier.verify(&parts.join("."), HERE, now()), Err(AuthError::BadSignature));

        // Signed by another key under the same id, or by a key not accepted.
        let impostor = Issuer::generate("k1");
        assert_eq!(verifier.verify(&impostor.issue(&software()), HERE, now()), Err(AuthError::BadSignature));
        let other = Issuer::generate("k2");
        assert_eq!(verifier.verify(&other.issue(&software()), HERE, now()), Err(AuthError::UnknownKey("k2".into())));

        assert!(matches!(verifier.verify("abc", HERE, now()), Err(AuthError::Malformed(_))));
        assert!(matches!(verifier.verify("a.b.c", HERE, now()), Err(AuthError::Malformed(_))));
    }

    #[test]
    fn keys_rotate_by_id() {
        let (old, new) = (Issuer::generate("2026-01"), Issuer::generate("2026-07"));
        let verifier = Verifier::parse(&format!("{},{}", old.public_text(), new.public_text())).unwrap();
        assert!(verifier.verify(&old.issue(&software()), HERE, now()).is_ok());
        assert!(verifier.verify(&new.issue(&software()), HERE, now()).is_ok());
        assert!(Verifier::parse("").is_err());
        assert!(Verifier::parse("k1=notbase64!").is_err());
    }

    #[test]
    fn a_service_key_signs_only_its_own_services_calls_for_read_and_follow() {
        let (issuer, intake) = (Issuer::generate("issuer"), Issuer::generate("intake-1"));
        let verifier = verifier(&issuer, &intake);
        let call = service_call("intake", &SERVICE_SCOPES);
        let principal = verifier.verify(&intake.issue(&call), HERE, now()).unwrap();
        assert_eq!((principal.role, principal.subject.as_str()), (Role::Service, "intake"));

        let beyond = |claims: &Claims| match verifier.verify(&intake.issue(claims), HERE, now()) {
            Err(AuthError::BeyondItsKey { kid, .. }) => kid == "intake-1",
            _ => false,
        };
        // Another role, or another service's name, or more scopes, or a province to act for.
        assert!(beyond(&Claims { role: Role::National, ..call.clone() }), "a national operator");
        assert!(beyond(&Claims { role: Role::Province, province: Some("46".into()), ..call.clone() }));
        assert!(beyond(&service_call("aggregation", &SERVICE_SCOPES)), "another service");
        assert!(beyond(&service_call("intake", &[SCOPE_READ, SCOPE_PUBLISH])), "publishing");
        assert!(beyond(&service_call("intake", &[SCOPE_PUSH])), "pushing");
        assert!(beyond(&Claims { province: Some("46".into()), ..call.clone() }));

        // Only for the service called, and short-lived.
        let elsewhere = Claims { aud: "aggregation".into(), ..call.clone() };
        assert!(matches!(
            verifier.verify(&intake.issue(&elsewhere), HERE, now()),
            Err(AuthError::WrongAudience { .. })
        ));
        let everywhere = Claims { aud: AUDIENCE_ONESTOP.into(), ..call.clone() };
        assert!(matches!(
            verifier.verify(&intake.issue(&everywhere), HERE, now()),
            Err(AuthError::WrongAudience { .. })
        ));
        let long = Claims { exp: call.iat + MAX_SERVICE_LIFETIME + 1, ..call.clone() };
        assert_eq!(
            verifier.verify(&intake.issue(&long), HERE, now()),
            Err(AuthError::TooLongLived { seconds: MAX_SERVICE_LIFETIME + 1, max: MAX_SERVICE_LIFETIME })
        );
        let just_short_enough = Claims { exp: call.iat + MAX_SERVICE_LIFETIME, ..call.clone() };
        assert!(verifier.verify(&intake.issue(&just_short_enough), HERE, now()).is_ok());
    }

    #[test]
    fn an_issuer_key_signs_principals_for_every_service_up_to_the_longest_lifetime_but_not_services() {
        let (issuer, intake) = (Issuer::generate("issuer"), Issuer::generate("intake-1"));
        let verifier = verifier(&issuer, &intake);
        let verify = |claims: &Claims| verifier.verify(&issuer.issue(claims), HERE, now());
        assert!(verify(&software()).is_ok(), "for every service");
        assert!(verify(&Claims { aud: HERE.into(), ..software() }).is_ok(), "for this service");
        assert!(matches!(
            verify(&Claims { aud: "aggregation".into(), ..software() }),
            Err(AuthError::WrongAudience { .. })
        ));
        assert!(matches!(verify(&Claims { aud: String::new(), ..software() }), Err(AuthError::WrongAudience { .. })));
        assert!(matches!(verify(&service_call("intake", &SERVICE_SCOPES)), Err(AuthError::BeyondItsKey { .. })));

        let year = claims("vendor-a", Role::National, &[SCOPE_READ], MAX_PRINCIPAL_LIFETIME);
        assert!(verify(&year).is_ok());
        let longer = Claims { exp: year.exp + 1, ..year };
        assert!(matches!(verify(&longer), Err(AuthError::TooLongLived { .. })));

        // A token with no audience at all, as tokens were before audiences: refused, not read as "everyone".
        let mut untargeted = serde_json::to_value(software()).unwrap();
        untargeted.as_object_mut().unwrap().remove("aud");
        let claims: Claims = serde_json::from_value(untargeted).unwrap();
        assert!(matches!(verify(&claims), Err(AuthError::WrongAudience { .. })));
    }

    #[test]
    fn key_lists_name_each_key_once_and_each_service_plainly() {
        let (issuer, intake) = (Issuer::generate("k1"), Issuer::generate("k2"));
        let issuers = Verifier::parse(&issuer.public_text()).unwrap();
        assert!(issuers.clone().trust_services(&issuer.service_public_text("intake")).is_err(), "an id twice");
        assert!(issuers.clone().trust_services(&intake.public_text()).is_err(), "no service named");
        assert!(issuers.clone().trust_services(&intake.service_public_text("In take")).is_err());
        assert!(issuers.clone().trust_services("").is_ok(), "no service key at all");
    }

    #[test]
    fn secrets_never_print() {
        let issuer = Issuer::generate("k1");
        let private = issuer.private_text();
        let seed = private.expose().split_once('=').unwrap().1.to_owned();
        for printed in [format!("{private:?}"), format!("{private}"), format!("{issuer:?}")] {
            assert!(!printed.contains(&seed), "{printed}");
        }
        assert_eq!(format!("{private:?}"), "[redacted]");
        assert_eq!("text".parse::<Secret>().unwrap().expose(), "text");
    }
}
