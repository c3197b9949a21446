//! Helpers with no knowledge of tributary's model: the bottom layer, which
//! any module may import and which imports no module of the crate.

pub mod date;
pub mod markup;
pub mod par;
pub mod text;
pub mod write;
pub mod yaml;
