//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`).

use crate::{Config, Context, ProtectionProfile};

/// Feeds arbitrary bytes to `unprotect_rtp` and `unprotect_rtcp`; the first
/// byte picks the profile. Must never panic, whatever the input.
pub fn unprotect(data: &[u8]) {
    let Some((&pick, packet)) = data.split_first() else {
        return;
    };
    let profile = ProtectionProfile::ALL[usize::from(pick) % ProtectionProfile::ALL.len()];
    let key = [0x5a; 32];
    let salt = [0xa5; 14];
    let Ok(mut ctx) = Context::new(
        profile,
        &key[..profile.master_key_len()],
        &salt[..profile.master_salt_len()],
        Config::default(),
    ) else {
        return;
    };
    let _ = ctx.unprotect_rtp(&mut packet.to_vec());
    let _ = ctx.unprotect_rtcp(&mut packet.to_vec());
}
