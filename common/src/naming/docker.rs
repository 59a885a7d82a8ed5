//! Docker naming, compatible with `linstor-docker-volume`: the `Aux/is-linstor-docker-volume`
//! marker.

use crate::api::ResourceDefinition;

/// Ownership marker property (value `true`).
pub const MARKER_PROP: &str = "Aux/is-linstor-docker-volume";

/// Owned by the Docker frontend.
pub fn owns(rd: &ResourceDefinition) -> bool {
    rd.props.get(MARKER_PROP).is_some_and(|v| v == "true")
}
