//! Least privilege after start-up: once the ports are up and the admin listener is bound,
//! `vpcfwd run` keeps only the capabilities it still needs, in every set (bounding too, so a
//! program it runs cannot regain more), and optionally becomes a non-root user keeping them.
//!
//! What is still needed after start-up:
//! - `CAP_NET_ADMIN`: addresses, MTU and routes of its devices (the `ip` commands of a reload).
//! - `CAP_SYS_ADMIN`, unless `--static-ports`: ports live in other network namespaces, and
//!   entering one (`setns`, also what `ip -n` does) for a port a reload adds or readdresses, and
//!   removing the namespaces it created (`ip netns delete`: an unmount), need it. With
//!   `--static-ports` a reload that touches ports is refused and only `CAP_NET_ADMIN` is kept.
//!
//! Capabilities are per thread: [`drop_privileges`] runs on the main thread before the flow-log
//! writer, the workers and the control runtime are spawned, so every thread inherits the
//! reduced sets. `--user` switches uid and gid with `PR_SET_KEEPCAPS` (glibc applies setuid to
//! every thread), then raises the kept capabilities as ambient so the `ip` commands vpcfwd runs,
//! no longer root, have them too.

use caps::{CapSet, Capability, CapsHashSet};

/// The capabilities kept after start-up.
pub fn kept(static_ports: bool) -> Vec<Capability> {
    if static_ports {
        vec![Capability::CAP_NET_ADMIN]
    } else {
        vec![Capability::CAP_NET_ADMIN, Capability::CAP_SYS_ADMIN]
    }
}

/// A user to run as: its uid and primary gid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
}

/// Looks up `name` (or a numeric uid) in the user database.
pub fn lookup_user(name: &str) -> Result<User, String> {
    let c = std::ffi::CString::new(name).map_err(|_| format!("--user {name:?}: not a name"))?;
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; `buf` outlives the reads of `pw` below.
    let r = unsafe { libc::getpwnam_r(c.as_ptr(), &mut pw, buf.as_mut_ptr(), buf.len(), &mut out) };
    if r == 0 && !out.is_null() {
        return Ok(User {
            uid: pw.pw_uid,
            gid: pw.pw_gid,
        });
    }
    if let Ok(uid) = name.parse::<u32>() {
        return Ok(User { uid, gid: uid });
    }
    Err(format!("--user {name}: no such user"))
}

/// Keeps only `keep` in every capability set of this thread (and, with `user`, becomes that
/// user first, keeping them). Errors name the step that failed; the process should then exit.
pub fn drop_privileges(keep: &[Capability], user: Option<User>) -> Result<(), String> {
    fn e(what: &'static str) -> impl Fn(caps::errors::CapsError) -> String {
        move |err| format!("{what}: {err}")
    }
    // What is not held cannot be kept (a container without CAP_SYS_ADMIN, say).
    let held = caps::read(None, CapSet::Permitted).map_err(e("reading the permitted set"))?;
    let keep: CapsHashSet = keep.iter().copied().filter(|c| held.contains(c)).collect();
    // The bounding set first: dropping from it needs CAP_SETPCAP, which goes next. Without it
    // (a confined container) the bounding set stays as it was: said, not fatal.
    if held.contains(&Capability::CAP_SETPCAP) {
        for c in caps::all() {
            if !keep.contains(&c) && caps::has_cap(None, CapSet::Bounding, c).unwrap_or(false) {
                caps::drop(None, CapSet::Bounding, c).map_err(e("bounding set"))?;
            }
        }
    } else {
        tracing::warn!("no CAP_SETPCAP: the capability bounding set is left as it is");
    }
    if let Some(u) = user {
        // SAFETY: plain syscalls on this process's credentials; failures are checked.
        unsafe {
            if libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0 {
                return Err(format!(
                    "PR_SET_KEEPCAPS: {}",
                    std::io::Error::last_os_error()
                ));
            }
            if libc::setgroups(0, std::ptr::null()) != 0 {
                return Err(format!("setgroups: {}", std::io::Error::last_os_error()));
            }
            if libc::setgid(u.gid) != 0 {
                return Err(format!(
                    "setgid {}: {}",
                    u.gid,
                    std::io::Error::last_os_error()
                ));
            }
            if libc::setuid(u.uid) != 0 {
                return Err(format!(
                    "setuid {}: {}",
                    u.uid,
                    std::io::Error::last_os_error()
                ));
            }
        }
    }
    // Effective first (it must stay within permitted), then permitted, then inheritable.
    caps::set(None, CapSet::Effective, &keep).map_err(e("effective set"))?;
    caps::set(None, CapSet::Permitted, &keep).map_err(e("permitted set"))?;
    caps::set(None, CapSet::Inheritable, &keep).map_err(e("inheritable set"))?;
    // Ambient: what the programs vpcfwd runs (`ip`) get even when it is no longer root.
    caps::clear(None, CapSet::Ambient).map_err(e("ambient set"))?;
    for c in &keep {
        caps::raise(None, CapSet::Ambient, *c).map_err(e("ambient set"))?;
    }
    // SAFETY: prctl without pointers.
    unsafe {
        libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0);
    }
    let now = caps::read(None, CapSet::Permitted).map_err(e("reading back"))?;
    if now != keep {
        return Err(format!(
            "permitted set is {now:?} after the drop, not {keep:?}"
        ));
    }
    Ok(())
}

/// The names of a set, sorted (for the log).
pub fn names(keep: &[Capability]) -> String {
    let mut v: Vec<String> = keep.iter().map(|c| c.to_string()).collect();
    v.sort();
    v.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_resolves_and_unknown_users_are_refused() {
        assert_eq!(lookup_user("root"), Ok(User { uid: 0, gid: 0 }));
        assert!(
            lookup_user("no-such-user-vpcfwd")
                .unwrap_err()
                .contains("no such user")
        );
        assert!(lookup_user("a\0b").is_err());
    }

    #[test]
    fn static_ports_keep_net_admin_only() {
        assert_eq!(kept(true), vec![Capability::CAP_NET_ADMIN]);
        assert!(kept(false).contains(&Capability::CAP_SYS_ADMIN));
    }
}
