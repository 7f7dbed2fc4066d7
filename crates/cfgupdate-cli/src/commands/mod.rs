pub mod check;
pub mod edit;
pub mod publish;
pub mod render;
