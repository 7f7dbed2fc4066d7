//! Argument types shared by the commands, parsed into domain types at the edge.

use std::str::FromStr;

use cfgupdate_core::{ImageRef, ServiceName};

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
