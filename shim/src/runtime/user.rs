//! Switching the init to the container's user and groups while keeping
//! the capabilities the spec asks for, in runc's order: drop the bounding
//! set as root, keep capabilities across setuid (PR_SET_KEEPCAPS), set
//! groups, gid, uid, then the effective/permitted/inheritable/ambient sets.

use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};

use super::capabilities::{self, CapSets};
use super::StepError;

/// `process.user`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserIds {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups, already as `Gid`s so the init allocates nothing.
    pub additional_gids: Vec<Gid>,
}

fn keep_caps(on: bool) -> Result<(), StepError> {
    // SAFETY: PR_SET_KEEPCAPS changes only this process's securebits.
    if unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, libc::c_ulong::from(on), 0, 0, 0) } != 0 {
        return Err(StepError::new(
            "prctl(PR_SET_KEEPCAPS)",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Become `user` with `caps` (`None`: capabilities are left as they are).
/// `setgroups_allowed` is false in a user namespace whose setgroups is denied.
pub fn switch(
    user: &UserIds,
    caps: Option<&CapSets>,
    setgroups_allowed: bool,
) -> Result<(), StepError> {
    if let Some(c) = caps {
        capabilities::drop_bounding(c)
            .map_err(|e| StepError::new("drop capabilities from the bounding set", e))?;
    }
    keep_caps(true)?;
    if setgroups_allowed {
        setgroups(&user.additional_gids).map_err(|e| {
            StepError::new(format!("setgroups {:?}", user.additional_gids), e.into())
        })?;
    }
    let gid = Gid::from_raw(user.gid);
    setresgid(gid, gid, gid)
        .map_err(|e| StepError::new(format!("setgid {}", user.gid), e.into()))?;
    let uid = Uid::from_raw(user.uid);
    setresuid(uid, uid, uid)
        .map_err(|e| StepError::new(format!("setuid {}", user.uid), e.into()))?;
    keep_caps(false)?;
    if let Some(c) = caps {
        capabilities::apply(c).map_err(|e| StepError::new("set capabilities", e))?;
    }
    Ok(())
}

/// prctl(PR_SET_NO_NEW_PRIVS): exec can no longer grant privileges.
pub fn no_new_privileges() -> Result<(), StepError> {
    // SAFETY: PR_SET_NO_NEW_PRIVS changes only this process's flag.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(StepError::new(
            "prctl(PR_SET_NO_NEW_PRIVS)",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}
