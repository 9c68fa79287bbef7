//! With the `codecs` feature: compiles the C shim over libvpx and libopus
//! (csrc/ferrtc_codecs.c) and links both libraries, found by pkg-config
//! (Debian: libvpx-dev, libopus-dev). Without it: nothing, so the default
//! build needs no system library.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    #[cfg(feature = "codecs")]
    codecs::build();
}

#[cfg(feature = "codecs")]
mod codecs {
    use std::path::PathBuf;

    /// The include paths of a pkg-config package (which also prints its
    /// link lines), or none with a plain `-l` when pkg-config cannot find
    /// it (the headers then must be on the default path).
    fn probe(name: &str, lib: &str) -> Vec<PathBuf> {
        match pkg_config::Config::new().probe(name) {
            Ok(found) => found.include_paths,
            Err(e) => {
                println!("cargo::warning=pkg-config {name}: {e}; linking -l{lib}");
                println!("cargo::rustc-link-lib={lib}");
                if name == "opus" {
                    vec![PathBuf::from("/usr/include/opus")]
                } else {
                    Vec::new()
                }
            }
        }
    }

    pub fn build() {
        println!("cargo::rerun-if-changed=csrc/ferrtc_codecs.c");
        let mut includes = probe("vpx", "vpx");
        includes.extend(probe("opus", "opus"));
        let mut cc = cc::Build::new();
        cc.file("csrc/ferrtc_codecs.c").warnings(true);
        for dir in includes {
            cc.include(dir);
        }
        cc.compile("ferrtc_codecs");
    }
}
