//! The config repository's own CI, as `cfgupdate demo --strict` plays it: a policy check on the
//! committed YAML of a commit of the auto branch, of the kind teams run beside kubeconform.
//! Every Deployment the repository renders must run an image of the shop's own registry
//! path; an image from anywhere else (a sandbox, a personal namespace) fails the check. The
//! verdict is computed from the commit's files, not scripted.

use cfgupdate_core::{CommitId, ConfigRepository};
use cfgupdate_git::GitRepository;

use crate::failure::Failure;
use crate::remote::classified;

/// The check's name, reported as the CI result's `context`.
pub const CONTEXT: &str = "policy/registry";

/// Where the shop's Deployments may take their images from.
pub const ADMITTED: &str = "registry.example.com/shop/";

/// An image the policy does not admit, and the file that deploys it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The rendered file, e.g. `generated/staging-us/deployment-shop-api.yaml`.
    pub path: String,
    /// The image it runs.
    pub image: String,
}

/// Checks `commit` of the auto branch `branch` (fetched into `repo`'s cache first): every
/// image of a rendered Deployment under `generated/`.
pub fn check(
    repo: &mut GitRepository,
    branch: &str,
    commit: &str,
) -> Result<Vec<Violation>, Failure> {
    repo.refresh_side(branch)
        .map_err(|error| classified(&error))?;
    let commit = CommitId::parse(commit).map_err(Failure::invalid)?;
    let mut violations = Vec::new();
    let mut deployments = 0;
    for path in repo
        .list_files(&commit, "generated")
        .map_err(|error| classified(&error))?
    {
        let name = path.as_str().rsplit('/').next().unwrap_or_default();
        if !(name.starts_with("deployment-") && name.ends_with(".yaml")) {
            continue;
        }
        deployments += 1;
        let bytes = repo
            .read_file(&commit, &path)
            .map_err(|error| classified(&error))?
            .unwrap_or_default();
        for image in images_in(&String::from_utf8_lossy(&bytes)) {
            if !image.starts_with(ADMITTED) {
                violations.push(Violation {
                    path: path.to_string(),
                    image,
                });
            }
        }
    }
    if deployments == 0 {
        return Err(Failure::operational(format!(
            "the demo's CI found no rendered Deployment under generated/ at {}",
            commit.short()
        )));
    }
    Ok(violations)
}

/// The values of the `image:` keys of a YAML document, as the renderer writes them (one per
/// line, possibly quoted, possibly as a list item's first key).
fn images_in(yaml: &str) -> Vec<String> {
    yaml.lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let line = line.strip_prefix("- ").unwrap_or(line);
            line.strip_prefix("image:")
        })
        .map(|value| {
            value
                .trim()
                .trim_matches(|c| c == '"' || c == '\'')
                .to_owned()
        })
        .filter(|value| !value.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_read_plain_quoted_and_as_a_list_items_first_key() {
        let yaml = "spec:\n  containers:\n  - env: []\n    image: registry.example.com/shop/api:1\n  - image: \"docker.io/x/y:2\"\n    name: y\n  imagePullPolicy: Always\n";
        assert_eq!(
            images_in(yaml),
            ["registry.example.com/shop/api:1", "docker.io/x/y:2"]
        );
    }
}
