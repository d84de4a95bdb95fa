//! Who is calling onestop, and what they may do.
//!
//! A credential is a JSON Web Token signed with Ed25519 (`alg: EdDSA`), its header naming the key (`kid`) so keys
//! can be rotated: a verifier holds every public key still accepted, an issuer signs with one private key. A
//! service verifies tokens from its configuration alone, without a database round trip.
//!
//! Principals ([`Role`]): one-stop software acting for a listed set of centers, a provincial office (reads its
//! province, publishes its catalogue), a national reader, and a onestop service calling another.

pub mod command;

use std::collections::{BTreeSet, HashMap};
use std::fmt;

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

/// The kind of principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// One-stop software pushing for the centers listed in `centers`.
    Software,
    /// A provincial office: reads the units of `province` and publishes its catalogue.
    Province,
    /// Reads everything.
    National,
    /// A onestop service calling another.
    Service,
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
    pub scopes: Vec<String>,
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
    pub fn private_text(&self) -> String {
        format!("{}={}", self.kid, STANDARD.encode(self.key.to_bytes()))
    }

    /// `kid=<base64 public key>`: what verifiers are given.
    pub fn public_text(&self) -> String {
        format!("{}={}", self.kid, STANDARD.encode(self.key.verifying_key().to_bytes()))
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

/// The public keys a service accepts, by id.
#[derive(Debug, Clone, Default)]
pub struct Verifier {
    keys: HashMap<String, VerifyingKey>,
    /// Clock skew tolerated on expiry and issue time, in seconds.
    leeway: i64,
}

impl Verifier {
    /// From `kid=<base64 public key>` entries separated by commas.
    pub fn parse(text: &str) -> Result<Verifier, String> {
        let mut keys = HashMap::new();
        for entry in text.split(',').filter(|e| !e.trim().is_empty()) {
            let (kid, key) = split_key(entry)?;
            let bytes = key_bytes(&kid, &key, "public")?;
            let key = VerifyingKey::from_bytes(&bytes).map_err(|e| format!("public key of {kid}: {e}"))?;
            keys.insert(kid, key);
        }
        if keys.is_empty() {
            return Err("no public key given".into());
        }
        Ok(Verifier { keys, leeway: 60 })
    }

    /// Accepts the tokens `issuer` signs.
    pub fn of(issuers: &[&Issuer]) -> Verifier {
        let keys = issuers.iter().map(|i| (i.kid.clone(), i.key.verifying_key())).collect();
        Verifier { keys, leeway: 60 }
    }

    /// The principal of a valid token at `now` (seconds since the epoch).
    pub fn verify(&self, token: &str, now: i64) -> Result<Principal, AuthError> {
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
        let key = self.keys.get(&header.kid).ok_or_else(|| AuthError::UnknownKey(header.kid.clone()))?;
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
        Ok(claims.into())
    }
}

/// Seconds since the Unix epoch now.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Claims for `sub` in `role` with `scopes`, valid for `seconds` from now.
pub fn claims(sub: &str, role: Role, scopes: &[&str], seconds: i64) -> Claims {
    let iat = now();
    Claims {
        sub: sub.to_owned(),
        role,
        centers: vec![],
        province: None,
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        iat,
        exp: iat + seconds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn software() -> Claims {
        Claims { centers: vec!["BPMC-1".into()], ..claims("vendor-a", Role::Software, &[SCOPE_PUSH], 3600) }
    }

    #[test]
    fn a_signed_token_verifies_into_its_principal() {
        let issuer = Issuer::generate("k1");
        let verifier = Verifier::parse(&issuer.public_text()).unwrap();
        let principal = verifier.verify(&issuer.issue(&software()), now()).unwrap();
        assert_eq!(principal.role, Role::Software);
        assert!(principal.acts_for_center("BPMC-1") && !principal.acts_for_center("BPMC-2"));
        assert!(principal.has_scope(SCOPE_PUSH) && !principal.has_scope(SCOPE_READ));
        let again = Issuer::parse(&issuer.private_text()).unwrap();
        assert_eq!(verifier.verify(&again.issue(&software()), now()).unwrap(), principal);
    }

    #[test]
    fn expired_forged_unknown_and_malformed_tokens_are_refused() {
        let issuer = Issuer::generate("k1");
        let verifier = Verifier::of(&[&issuer]);
        let token = issuer.issue(&software());
        assert_eq!(verifier.verify(&token, now() + 3600 + 61), Err(AuthError::Expired));
        assert_eq!(verifier.verify(&token, now() - 120), Err(AuthError::NotYetValid));

        // Claims changed after signing: more centers.
        let mut parts: Vec<String> = token.split('.').map(String::from).collect();
        let mut forged = software();
        forged.centers.push("BPMC-2".into());
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(verifier.verify(&parts.join("."), now()), Err(AuthError::BadSignature));

        // Signed by another key under the same id, or by a key not accepted.
        let impostor = Issuer::generate("k1");
        assert_eq!(verifier.verify(&impostor.issue(&software()), now()), Err(AuthError::BadSignature));
        let other = Issuer::generate("k2");
        assert_eq!(verifier.verify(&other.issue(&software()), now()), Err(AuthError::UnknownKey("k2".into())));

        assert!(matches!(verifier.verify("abc", now()), Err(AuthError::Malformed(_))));
        assert!(matches!(verifier.verify("a.b.c", now()), Err(AuthError::Malformed(_))));
    }

    #[test]
    fn keys_rotate_by_id() {
        let (old, new) = (Issuer::generate("2026-01"), Issuer::generate("2026-07"));
        let verifier = Verifier::parse(&format!("{},{}", old.public_text(), new.public_text())).unwrap();
        assert!(verifier.verify(&old.issue(&software()), now()).is_ok());
        assert!(verifier.verify(&new.issue(&software()), now()).is_ok());
        assert!(Verifier::parse("").is_err());
        assert!(Verifier::parse("k1=notbase64!").is_err());
    }
}
