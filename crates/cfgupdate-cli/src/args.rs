//! Argument types shared by the commands, parsed into domain types at the edge.

use std::str::FromStr;

use cfgupdate_core::{ImageRef, ImageSet, ServiceName};

use crate::failure::Failure;

/// `SERVICE=REF`.
#[derive(Debug, Clone)]
pub struct ImageAssignment {
    pub service: ServiceName,
    pub image: ImageRef,
}

impl FromStr for ImageAssignment {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (service, image) = text
            .split_once('=')
            .ok_or_else(|| format!("`{text}` is not SERVICE=REF (no `=`)"))?;
        let service = ServiceName::parse(service).map_err(|error| error.to_string())?;
        let image = ImageRef::parse(image).map_err(|error| error.to_string())?;
        Ok(Self { service, image })
    }
}

/// The image set that repeated `SERVICE=REF` arguments name; a service given twice with
/// different references is an error.
pub fn image_set(assignments: &[ImageAssignment]) -> Result<ImageSet, Failure> {
    let mut images = ImageSet::new();
    for ImageAssignment { service, image } in assignments {
        if let Some(previous) = images.insert(service.clone(), image.clone())
            && &previous != image
        {
            return Err(Failure::invalid(format!(
                "service `{service}` is given twice with different references (`{previous}` and `{image}`)"
            )));
        }
    }
    Ok(images)
}

/// The most names a sentence on stderr lists; the rest are counted.
const MOST_SAID: usize = 10;

/// `names` for a sentence: `api, web`, or `a, b, ... (and 5 more)` past ten.
pub fn listed<I, S>(names: I) -> String
where
    I: IntoIterator<Item = S>,
    S: std::fmt::Display,
{
    let names: Vec<String> = names.into_iter().map(|name| name.to_string()).collect();
    if names.len() <= MOST_SAID {
        return names.join(", ");
    }
    format!(
        "{} (and {} more)",
        names[..MOST_SAID].join(", "),
        names.len() - MOST_SAID
    )
}

/// Says on stderr, in one sentence, what a writing command did; stdout keeps what the
/// contract fixes for scripts (the SHA or `unchanged`).
pub fn say(sentence: impl std::fmt::Display) {
    eprintln!("{sentence}");
}
