//! Placeholder until the keys module lands (replaced by the keysched branch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Ec256,
    Ec384,
    Rsa2048,
    Rsa3072,
}
impl KeyType {
    pub const NAMES: &'static str = "ec256, ec384, rsa2048, rsa3072";
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "ec256" => Some(Self::Ec256),
            "ec384" => Some(Self::Ec384),
            "rsa2048" => Some(Self::Rsa2048),
            "rsa3072" => Some(Self::Rsa3072),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::Ec256 => "ec256",
            Self::Ec384 => "ec384",
            Self::Rsa2048 => "rsa2048",
            Self::Rsa3072 => "rsa3072",
        }
    }
}
