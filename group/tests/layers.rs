//! The crate's modules form layers, bottom-up, and no module imports one
//! above it: vocabulary, the error tree, the runtime glue, the core (which
//! knows no public API type), the child task, and the public API. Read from
//! the sources, so that an upward import fails here rather than in review.

use std::collections::BTreeMap;

const LAYERS: &[(&str, &[&str])] = &[
    (
        "vocabulary",
        &[
            "sync",
            "name",
            "outcome",
            "policy",
            "config",
            "telemetry",
            "deadline",
            "no_success",
            "spawn_error",
            "panic",
        ],
    ),
    (
        "error tree",
        &[
            "error_group",
            "split",
            "catch",
            "into_failure",
            "error_types",
            "start_error",
        ],
    ),
    ("runtime glue", &["spawn", "trace", "reaper"]),
    (
        "core",
        &[
            "admission",
            "own_token",
            "sleepers",
            "stream_slots",
            "supervisor",
            "cancel_watch",
            "membership",
            "ctl",
            "queue",
            "context",
        ],
    ),
    ("child task", &["task", "child", "delivered"]),
    (
        "public API",
        &["group", "builder", "handle", "start", "body", "completions"],
    ),
    ("models", &["loom_models"]),
];

#[test]
fn no_module_imports_one_above_it() {
    let level: BTreeMap<&str, usize> = LAYERS
        .iter()
        .enumerate()
        .flat_map(|(i, (_, modules))| modules.iter().map(move |m| (*m, i)))
        .collect();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut seen = Vec::new();
    let mut upward = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let module = path.file_stem().unwrap().to_str().unwrap().to_owned();
        if module == "lib" {
            continue;
        }
        let Some(&own) = level.get(module.as_str()) else {
            panic!("module {module} is in no layer: add it to LAYERS");
        };
        seen.push(module.clone());
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for used in line.split("crate::").skip(1) {
                let used: String = used
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                let used = if used == "marker" {
                    "into_failure".to_owned()
                } else {
                    used
                };
                if level.get(used.as_str()).is_some_and(|&l| l > own) {
                    upward.push(format!(
                        "{module}.rs:{}: {} ({}) uses {used} ({})",
                        n + 1,
                        module,
                        LAYERS[own].0,
                        LAYERS[level[used.as_str()]].0
                    ));
                }
            }
        }
    }
    assert!(upward.is_empty(), "upward imports:\n{}", upward.join("\n"));
    assert_eq!(seen.len(), level.len(), "a module of LAYERS is gone");
}
