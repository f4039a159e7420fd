//! Feeds arbitrary bytes to the LoRA adapter-config parser (`adapter_config.json`): it never
//! panics, and a config it accepts has a positive rank and a finite alpha, also per module.
#![no_main]

use std::path::Path;

use crdt_merge_model::lora::AdapterConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = AdapterConfig::parse(data, Path::new("adapter_config.json")) {
        assert!(c.r > 0);
        assert!(c.alpha.is_finite());
        for m in ["q_proj", "model.layers.0.self_attn.q_proj", ""] {
            let _ = c.rank_of(m);
            let _ = c.alpha_of(m);
        }
    }
});
