pub mod edit;
pub mod publish;
