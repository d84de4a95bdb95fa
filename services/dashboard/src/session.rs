//! Sessions: an office signs in with a token issued for it (the same tokens the services take), and gets a
//! random session id in an HttpOnly, SameSite cookie. The token stays on the server, with the session; every
//! page calls aggregation with it. A session ends at sign-out, after the configured hours, or when its token
//! expires, whichever comes first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use onestop_auth::{AuthError, Principal, Role, Verifier, AUDIENCE_ONESTOP, SCOPE_READ};

/// The cookie's name.
pub const COOKIE: &str = "onestop_session";

/// Most sessions held at once; beyond, a sign-in is refused until some end.
const MAX_SESSIONS: usize = 10_000;

/// The unit a national reader's pages show: the whole country.
pub const NATION: &str = "VN";

/// A signed-in office.
#[derive(Debug)]
pub struct Session {
    pub token: String,
    pub principal: Principal,
    /// The unit its pages show unless another is asked for: its province, or the nation.
    pub home_unit: String,
    /// Seconds since the Unix epoch.
    pub expires_at: i64,
}

/// Why a sign-in was refused, as the office reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The token is not one of ours, is damaged, or has expired.
    Credential(String),
    /// A valid token, but not an office's.
    NotAnOffice(String),
    Full,
}

impl Refusal {
    pub fn message(&self) -> &str {
        match self {
            Refusal::Credential(m) | Refusal::NotAnOffice(m) => m,
            Refusal::Full => "Hệ thống đang có quá nhiều phiên làm việc; vui lòng thử lại sau ít phút.",
        }
    }
}

/// What a cookie's session id leads to.
pub enum Lookup {
    Valid(Arc<Session>),
    Expired,
    Unknown,
}

pub struct Sessions {
    verifier: Verifier,
    lifetime: i64,
    open: Mutex<HashMap<String, Arc<Session>>>,
}

impl Sessions {
    pub fn new(verifier: Verifier, lifetime_seconds: i64) -> Sessions {
        Sessions { verifier, lifetime: lifetime_seconds, open: Mutex::new(HashMap::new()) }
    }

    /// Opens a session for `token` at `now`, returning its id.
    pub fn sign_in(&self, token: &str, now: i64) -> Result<(String, Arc<Session>), Refusal> {
        let token = token.trim();
        let claims =
            self.verifier.verify_claims(token, AUDIENCE_ONESTOP, now).map_err(|e| Refusal::Credential(refused(&e)))?;
        let token_expires_at = claims.exp;
        let principal = Principal::from(claims);
        let home_unit =
            match (principal.role, &principal.province) {
                (Role::National, _) => NATION.to_owned(),
                (Role::Province, Some(province)) => province.clone(),
                _ => return Err(Refusal::NotAnOffice(
                    "Mã đăng nhập này dành cho phần mềm một cửa hoặc một dịch vụ, không phải cho văn phòng tỉnh hay \
                     cơ quan trung ương."
                        .into(),
                )),
            };
        if !principal.has_scope(SCOPE_READ) {
            return Err(Refusal::NotAnOffice("Mã đăng nhập này không có quyền xem số liệu (phạm vi read).".into()));
        }
        let expires_at = token_expires_at.min(now + self.lifetime);
        let session = Arc::new(Session { token: token.to_owned(), principal, home_unit, expires_at });
        let mut open = self.open.lock().expect("sessions lock");
        if open.len() >= MAX_SESSIONS {
            open.retain(|_, s| s.expires_at > now);
            if open.len() >= MAX_SESSIONS {
                return Err(Refusal::Full);
            }
        }
        let id = new_id();
        open.insert(id.clone(), session.clone());
        Ok((id, session))
    }

    pub fn lookup(&self, id: &str, now: i64) -> Lookup {
        let mut open = self.open.lock().expect("sessions lock");
        match open.get(id) {
            Some(session) if session.expires_at > now => Lookup::Valid(session.clone()),
            Some(_) => {
                open.remove(id);
                Lookup::Expired
            }
            None => Lookup::Unknown,
        }
    }

    pub fn sign_out(&self, id: &str) {
        self.open.lock().expect("sessions lock").remove(id);
    }
}

/// The refusal of a token, in Vietnamese.
fn refused(error: &AuthError) -> String {
    match error {
        AuthError::Expired => "Mã đăng nhập đã hết hạn. Xin cấp mã mới.".into(),
        AuthError::NotYetValid => "Mã đăng nhập chưa đến thời điểm có hiệu lực.".into(),
        AuthError::Missing => "Chưa nhập mã đăng nhập.".into(),
        _ => "Mã đăng nhập không hợp lệ: không phải mã do hệ thống cấp, hoặc đã bị sửa.".into(),
    }
}

/// 32 random bytes, hex.
fn new_id() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the system's random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The session id in a request's `Cookie` headers.
pub fn session_id(headers: &hyper::HeaderMap) -> Option<String> {
    headers
        .get_all(hyper::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|id| id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The `Set-Cookie` value opening session `id` for `seconds`.
pub fn set_cookie(id: &str, seconds: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={id}; Max-Age={}; Path=/; HttpOnly; SameSite=Lax{secure}", seconds.max(0))
}

/// The `Set-Cookie` value removing the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    set_cookie("", 0, secure)
}

#[cfg(test)]
mod tests {
    use super::*;
    use onestop_auth::{claims, Issuer};

    fn sessions(issuer: &Issuer) -> Sessions {
        Sessions::new(Verifier::parse(&issuer.public_text()).unwrap(), 3600)
    }

    #[test]
    fn a_province_office_signs_in_and_out() {
        let issuer = Issuer::generate("k1");
        let sessions = sessions(&issuer);
        let now = onestop_auth::now();
        let mut c = claims("office-46", Role::Province, &[SCOPE_READ], 600);
        c.province = Some("46".into());
        let (id, session) = sessions.sign_in(&issuer.issue(&c), now).unwrap();
        assert_eq!(session.home_unit, "46");
        // The session ends with its token, before the configured hour.
        assert_eq!(session.expires_at, c.exp);
        assert!(matches!(sessions.lookup(&id, now), Lookup::Valid(_)));
        assert!(matches!(sessions.lookup(&id, c.exp + 1), Lookup::Expired));
        assert!(matches!(sessions.lookup(&id, now), Lookup::Unknown), "an expired session is forgotten");
        let (id, _) = sessions.sign_in(&issuer.issue(&c), now).unwrap();
        sessions.sign_out(&id);
        assert!(matches!(sessions.lookup(&id, now), Lookup::Unknown));
    }

    #[test]
    fn software_forged_and_expired_tokens_are_refused() {
        let issuer = Issuer::generate("k1");
        let sessions = sessions(&issuer);
        let now = onestop_auth::now();
        let software = claims("vendor", Role::Software, &[SCOPE_READ], 600);
        assert!(matches!(sessions.sign_in(&issuer.issue(&software), now), Err(Refusal::NotAnOffice(_))));
        let national = claims("ministry", Role::National, &[SCOPE_READ], 600);
        let other = Issuer::generate("k1");
        assert!(matches!(sessions.sign_in(&other.issue(&national), now), Err(Refusal::Credential(_))));
        assert!(matches!(sessions.sign_in("not a token", now), Err(Refusal::Credential(_))));
        let token = issuer.issue(&national);
        assert!(matches!(sessions.sign_in(&token, now + 700), Err(Refusal::Credential(m)) if m.contains("hết hạn")));
        let (_, session) = sessions.sign_in(&token, now).unwrap();
        assert_eq!(session.home_unit, NATION);
    }

    #[test]
    fn the_cookie_is_http_only_and_same_site() {
        let cookie = set_cookie(&"a".repeat(64), 60, false);
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && !cookie.contains("Secure"));
        let mut headers = hyper::HeaderMap::new();
        headers.insert(hyper::header::COOKIE, format!("x=1; {COOKIE}={}", "a".repeat(64)).parse().unwrap());
        assert_eq!(session_id(&headers), Some("a".repeat(64)));
        headers.insert(hyper::header::COOKIE, format!("{COOKIE}=<script>").parse().unwrap());
        assert_eq!(session_id(&headers), None);
    }
}
