//! How two renders of a target differ, object by object and field by field, and which of those
//! differences are only container images.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use super::objects::KubeObject;

/// One difference between two renders: an object added or removed, or one field of it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectDifference {
    /// The object, `Deployment/default/api`.
    pub object: String,
    /// The field that differs (`spec.replicas`, `spec.template.spec.containers[0].env`), or
    /// `(object added)` / `(object removed)`.
    pub path: String,
}

impl fmt::Display for ObjectDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.object, self.path)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Every difference between `before` and `after` other than the `image` of a container or
/// init container in a pod template (`spec.template.spec`, a CronJob's
/// `spec.jobTemplate.spec.template.spec`, or a bare Pod's `spec`).
pub(crate) fn non_image_differences(
    before: &[KubeObject],
    after: &[KubeObject],
) -> Vec<ObjectDifference> {
    let before = by_identity(before);
    let after = by_identity(after);
    let mut differences = Vec::new();
    for (key, old) in &before {
        match after.get(key) {
            None => differences.push(ObjectDifference {
                object: key.0.clone(),
                path: "(object removed)".into(),
            }),
            Some(new) => {
                let mut steps = Vec::new();
                compare(&old.kind, &old.value, &new.value, &mut steps, &mut |path| {
                    differences.push(ObjectDifference {
                        object: key.0.clone(),
                        path,
                    });
                });
            }
        }
    }
    for key in after.keys().filter(|key| !before.contains_key(*key)) {
        differences.push(ObjectDifference {
            object: key.0.clone(),
            path: "(object added)".into(),
        });
    }
    differences.sort();
    differences
}

/// Objects keyed by their identity and, for the rare repeated identity, its occurrence.
fn by_identity(objects: &[KubeObject]) -> BTreeMap<(String, usize), &KubeObject> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut keyed = BTreeMap::new();
    for object in objects {
        let id = object.id();
        let count = seen.entry(id.clone()).or_default();
        keyed.insert((id, *count), object);
        *count += 1;
    }
    keyed
}

fn compare<'a>(
    kind: &str,
    old: &'a Value,
    new: &'a Value,
    steps: &mut Vec<Step<'a>>,
    report: &mut dyn FnMut(String),
) {
    match (old, new) {
        (Value::Object(old_fields), Value::Object(new_fields)) => {
            let mut keys: Vec<&String> = old_fields.keys().chain(new_fields.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                steps.push(Step::Key(key));
                match (old_fields.get(key.as_str()), new_fields.get(key.as_str())) {
                    (Some(old), Some(new)) => compare(kind, old, new, steps, report),
                    _ => report(render_path(steps)),
                }
                steps.pop();
            }
        }
        (Value::Array(old_items), Value::Array(new_items)) => {
            for index in 0..old_items.len().max(new_items.len()) {
                steps.push(Step::Index(index));
                match (old_items.get(index), new_items.get(index)) {
                    (Some(old), Some(new)) => compare(kind, old, new, steps, report),
                    _ => report(render_path(steps)),
                }
                steps.pop();
            }
        }
        (Value::String(_), Value::String(_)) if is_image_field(kind, steps) => {}
        _ if old == new => {}
        _ => report(render_path(steps)),
    }
}

/// The pod specs whose containers' images may change.
const POD_SPECS: [&[&str]; 2] = [
    &["spec", "template", "spec"],
    &["spec", "jobTemplate", "spec", "template", "spec"],
];

fn is_image_field(kind: &str, steps: &[Step<'_>]) -> bool {
    let [
        prefix @ ..,
        Step::Key(list),
        Step::Index(_),
        Step::Key("image"),
    ] = steps
    else {
        return false;
    };
    if !matches!(*list, "containers" | "initContainers") {
        return false;
    }
    let prefix_is = |spec: &[&str]| {
        prefix.len() == spec.len()
            && prefix
                .iter()
                .zip(spec)
                .all(|(step, key)| *step == Step::Key(key))
    };
    (kind == "Pod" && prefix_is(&["spec"])) || POD_SPECS.iter().any(|spec| prefix_is(spec))
}

fn render_path(steps: &[Step<'_>]) -> String {
    let mut out = String::new();
    for step in steps {
        match step {
            Step::Key(key) if is_plain_key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Step::Key(key) => {
                out.push('[');
                out.push_str(&Value::String((*key).to_owned()).to_string());
                out.push(']');
            }
            Step::Index(index) => out.push_str(&format!("[{index}]")),
        }
    }
    out
}

fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(kind: &str, value: Value) -> KubeObject {
        KubeObject {
            kind: kind.into(),
            namespace: Some("default".into()),
            name: "api".into(),
            found_at: ".".into(),
            value,
        }
    }

    fn deployment(image: &str, replicas: u32) -> KubeObject {
        object(
            "Deployment",
            json!({"spec": {"replicas": replicas, "template": {"spec": {
                "containers": [{"name": "api", "image": image}],
                "initContainers": [{"name": "init", "image": image}]}}}}),
        )
    }

    #[test]
    fn container_and_init_container_images_may_change_and_nothing_else() {
        assert!(non_image_differences(&[deployment("a", 1)], &[deployment("b", 1)]).is_empty());
        let found = non_image_differences(&[deployment("a", 1)], &[deployment("b", 2)]);
        assert_eq!(
            found.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["Deployment/default/api: spec.replicas"]
        );
    }

    #[test]
    fn cron_job_and_pod_images_are_images_but_an_image_elsewhere_is_not() {
        let cron = |image: &str| {
            object(
                "CronJob",
                json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"image": image}]}}}}}}),
            )
        };
        assert!(non_image_differences(&[cron("a")], &[cron("b")]).is_empty());
        let pod = |image: &str| object("Pod", json!({"spec": {"containers": [{"image": image}]}}));
        assert!(non_image_differences(&[pod("a")], &[pod("b")]).is_empty());
        let annotated = |image: &str| {
            object(
                "Deployment",
                json!({"metadata": {"annotations": {"app.io/image": image}}}),
            )
        };
        assert_eq!(
            non_image_differences(&[annotated("a")], &[annotated("b")])[0].path,
            "metadata.annotations[\"app.io/image\"]"
        );
        // A Deployment's `spec.containers` is not a pod spec.
        let odd = |image: &str| {
            object(
                "Deployment",
                json!({"spec": {"containers": [{"image": image}]}}),
            )
        };
        assert_eq!(non_image_differences(&[odd("a")], &[odd("b")]).len(), 1);
    }

    #[test]
    fn added_and_removed_objects_and_containers_are_differences() {
        let one = deployment("a", 1);
        let mut two = deployment("a", 1);
        two.value["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "sidecar", "image": "x"}));
        assert_eq!(
            non_image_differences(std::slice::from_ref(&one), &[two])[0].path,
            "spec.template.spec.containers[1]"
        );
        let mut other = one.clone();
        other.name = "web".into();
        let found = non_image_differences(std::slice::from_ref(&one), &[other]);
        assert_eq!(
            found.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "Deployment/default/api: (object removed)",
                "Deployment/default/web: (object added)"
            ]
        );
    }
}
