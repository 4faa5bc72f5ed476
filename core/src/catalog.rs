//! The catalog: which purposes, data categories and channels exist in the ecosystem.
//!
//! Purposes and data categories are dotted hierarchies (`marketing` ⊃ `marketing.offers`);
//! channels are flat. A purpose may require a channel (marketing does): a request for it
//! must name one, a request for any other purpose must not.
//!
//! The catalog is data. It is loaded from JSON and validated: a child without its parent, a
//! duplicate, or a child that needs no channel under a parent that does, is an error.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a catalog, a catalog name or a pattern is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// A name is not lowercase `[a-z0-9_]` segments joined by dots.
    #[error(
        "`{name}` is not a valid {kind} name (lowercase a-z, 0-9 and _ segments joined by dots, at most 128 bytes)"
    )]
    InvalidName {
        /// Which kind of name.
        kind: &'static str,
        /// The offending text (cut to 64 characters).
        name: String,
    },
    /// The same name was listed twice.
    #[error("{kind} `{name}` is listed twice")]
    Duplicate {
        /// Which kind of name.
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// A dotted name whose parent is missing.
    #[error("{kind} `{name}` has no parent `{parent}` in the catalog")]
    MissingParent {
        /// Which kind of name.
        kind: &'static str,
        /// The child.
        name: String,
        /// The missing parent.
        parent: String,
    },
    /// A purpose needs no channel but its parent does.
    #[error("purpose `{name}` needs no channel but its parent `{parent}` does")]
    ChannelRequirementDropped {
        /// The child purpose.
        name: String,
        /// Its parent, which requires a channel.
        parent: String,
    },
    /// A purpose or data category nested deeper than [`MAX_DEPTH`] levels.
    #[error("{kind} `{name}` is nested deeper than {max} levels", max = MAX_DEPTH)]
    TooDeep {
        /// Which kind of name.
        kind: &'static str,
        /// The name (cut to 64 characters).
        name: String,
    },
    /// A channel name is dotted (channels are flat).
    #[error("channel `{name}` must not contain dots")]
    DottedChannel {
        /// The channel.
        name: String,
    },
    /// The JSON could not be read as a catalog.
    #[error("catalog JSON is malformed: {0}")]
    Json(String),
}

fn valid_name(s: &str, dotted: bool) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.split('.').all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
        && (dotted || !s.contains('.'))
}

macro_rules! catalog_name {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $dotted:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Box<str>);

        impl $name {
            /// Checks the syntax of `name` (not whether the catalog knows it).
            pub fn new(name: &str) -> Result<Self, CatalogError> {
                if valid_name(name, $dotted) {
                    Ok(Self(name.into()))
                } else {
                    Err(CatalogError::InvalidName { kind: $kind, name: name.chars().take(64).collect() })
                }
            }

            /// The name.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Number of dotted segments: `marketing` is 1, `marketing.offers` is 2.
            pub fn depth(&self) -> u8 {
                depth(&self.0)
            }

            /// The parent (`marketing` for `marketing.offers`), if any.
            pub fn parent(&self) -> Option<Self> {
                self.0.rsplit_once('.').map(|(p, _)| Self(p.into()))
            }

            /// Whether `self` equals `other` or is one of its ancestors.
            pub fn contains(&self, other: &Self) -> bool {
                contains(&self.0, &other.0)
            }
        }

        impl FromStr for $name {
            type Err = CatalogError;
            fn from_str(s: &str) -> Result<Self, CatalogError> {
                Self::new(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                crate::text::parse(deserializer, Self::new)
            }
        }
    };
}

catalog_name!(
    /// A purpose of processing, e.g. `marketing.offers`.
    PurposeId,
    "purpose",
    true
);
catalog_name!(
    /// A category of personal data, e.g. `contact.email`.
    DataCategory,
    "data category",
    true
);
catalog_name!(
    /// A contact channel, e.g. `email` (flat, no dots).
    Channel,
    "channel",
    false
);

pub(crate) fn depth(s: &str) -> u8 {
    (s.bytes().filter(|&b| b == b'.').count() + 1).min(u8::MAX as usize) as u8
}

/// Whether dotted name `outer` equals `inner` or is an ancestor of it.
pub(crate) fn contains(outer: &str, inner: &str) -> bool {
    inner.len() >= outer.len()
        && inner.as_bytes().starts_with(outer.as_bytes())
        && (inner.len() == outer.len() || inner.as_bytes()[outer.len()] == b'.')
}

/// A catalog name or the wildcard `*`, as used in choice keys.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pattern<T> {
    /// `*`: every value.
    Any,
    /// This value and, for dotted names, everything below it.
    Is(T),
}

impl<T> Pattern<T> {
    /// The value, or `None` for `*`.
    pub fn value(&self) -> Option<&T> {
        match self {
            Pattern::Any => None,
            Pattern::Is(v) => Some(v),
        }
    }
}

macro_rules! pattern_impls {
    ($t:ty) => {
        impl Pattern<$t> {
            /// Specificity used by the decision rule: `*` is 0, otherwise the depth.
            pub fn depth(&self) -> u8 {
                match self {
                    Pattern::Any => 0,
                    Pattern::Is(v) => v.depth(),
                }
            }

            /// Whether the pattern covers a concrete value.
            pub fn covers(&self, value: &$t) -> bool {
                match self {
                    Pattern::Any => true,
                    Pattern::Is(v) => v.contains(value),
                }
            }

            /// The text form (`*` or the name).
            pub fn as_str(&self) -> &str {
                match self {
                    Pattern::Any => "*",
                    Pattern::Is(v) => v.as_str(),
                }
            }
        }

        impl FromStr for Pattern<$t> {
            type Err = CatalogError;
            fn from_str(s: &str) -> Result<Self, CatalogError> {
                if s == "*" {
                    Ok(Pattern::Any)
                } else {
                    Ok(Pattern::Is(s.parse()?))
                }
            }
        }

        impl fmt::Display for Pattern<$t> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for Pattern<$t> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for Pattern<$t> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for Pattern<$t> {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                crate::text::parse(deserializer, str::parse)
            }
        }
    };
}

pattern_impls!(PurposeId);
pattern_impls!(DataCategory);
pattern_impls!(Channel);

/// One purpose of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurposeSpec {
    /// The purpose name.
    pub id: PurposeId,
    /// Whether a request for this purpose must name a channel.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub requires_channel: bool,
}

/// The catalog as written in JSON (`{"purposes": [...], "data": [...], "channels": [...]}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogSpec {
    /// Purposes, parents before or after children (order does not matter).
    pub purposes: Vec<PurposeSpec>,
    /// Data categories.
    pub data: Vec<DataCategory>,
    /// Channels.
    pub channels: Vec<Channel>,
}

/// How deep a catalog may nest purposes and data categories (`marketing.offers` is 2). A
/// name may have more segments, but a catalog refuses it, so a request naming it is an
/// unknown purpose or data category; the decision rule works on fixed-size arrays of a
/// name's ancestors.
pub const MAX_DEPTH: usize = 16;

/// A validated catalog.
///
/// Besides the names it keeps each name's place in its hierarchy, so that the decision rule
/// resolves a request's names once and then works with small integers: a name's *node* is its
/// index in the catalog, and its lineage lists the node and its ancestors, deepest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    names: Arc<CatalogNames>,
    spec: CatalogSpec,
}

/// The resolved names of a catalog, shared by its clones: a customer's state remembers
/// which catalog it resolved its symbols against by holding this.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct CatalogNames {
    purposes: Names,
    requires_channel: Vec<bool>,
    data: Names,
    channels: Names,
}

impl CatalogNames {
    /// Every node of each kind: purposes, data categories, channels.
    pub(crate) fn nodes(&self) -> [&[Node]; 3] {
        [&self.purposes.nodes, &self.data.nodes, &self.channels.nodes]
    }
}

/// The hash under which a name is filed wherever the decision rule looks it up: the catalog
/// computes it once per name, so a lookup of a resolved name hashes nothing.
pub(crate) fn name_hash(name: &str) -> u64 {
    use std::hash::Hasher;
    let mut hasher = rustc_hash::FxHasher::default();
    hasher.write(name.as_bytes());
    hasher.finish()
}

/// One resolved catalog name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    /// The name.
    pub(crate) name: Box<str>,
    /// [`name_hash`] of the name.
    pub(crate) hash: u64,
    /// This node's index, then its parent's, and so on up to the root.
    pub(crate) lineage: Box<[u32]>,
}

/// The names of one kind (purposes, data categories or channels), indexed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Names {
    index: FxHashMap<Box<str>, u32>,
    nodes: Vec<Node>,
}

impl Names {
    /// Indexes `names` (already checked for duplicates and missing parents).
    fn new<'a>(names: impl Iterator<Item = &'a str>) -> Self {
        let mut index = FxHashMap::default();
        let mut listed = Vec::new();
        for (i, name) in names.enumerate() {
            index.insert(Box::from(name), i as u32);
            listed.push(name);
        }
        let nodes = listed
            .iter()
            .map(|&name| {
                let mut lineage = Vec::new();
                let mut rest = Some(name);
                while let Some(n) = rest {
                    if let Some(&i) = index.get(n) {
                        lineage.push(i);
                    }
                    rest = n.rsplit_once('.').map(|(parent, _)| parent);
                }
                Node {
                    name: name.into(),
                    hash: name_hash(name),
                    lineage: lineage.into(),
                }
            })
            .collect();
        Self { index, nodes }
    }

    fn get(&self, name: &str) -> Option<u32> {
        self.index.get(name).copied()
    }
}

/// The default travel and mobility catalog that ships with Tessera.
pub const DEFAULT_CATALOG_JSON: &str = include_str!("default_catalog.json");

impl Catalog {
    /// Validates a catalog.
    pub fn new(spec: CatalogSpec) -> Result<Self, CatalogError> {
        let mut purposes = FxHashMap::default();
        for p in &spec.purposes {
            if purposes
                .insert(p.id.0.clone(), p.requires_channel)
                .is_some()
            {
                return Err(CatalogError::Duplicate {
                    kind: "purpose",
                    name: p.id.to_string(),
                });
            }
        }
        for p in &spec.purposes {
            if let Some(parent) = p.id.parent() {
                match purposes.get(parent.as_str()) {
                    None => {
                        return Err(CatalogError::MissingParent {
                            kind: "purpose",
                            name: p.id.to_string(),
                            parent: parent.to_string(),
                        });
                    }
                    Some(true) if !p.requires_channel => {
                        return Err(CatalogError::ChannelRequirementDropped {
                            name: p.id.to_string(),
                            parent: parent.to_string(),
                        });
                    }
                    Some(_) => {}
                }
            }
        }
        let mut data = FxHashMap::default();
        for d in &spec.data {
            if data.insert(d.0.clone(), ()).is_some() {
                return Err(CatalogError::Duplicate {
                    kind: "data category",
                    name: d.to_string(),
                });
            }
        }
        for d in &spec.data {
            if let Some(parent) = d.parent()
                && !data.contains_key(parent.as_str())
            {
                return Err(CatalogError::MissingParent {
                    kind: "data category",
                    name: d.to_string(),
                    parent: parent.to_string(),
                });
            }
        }
        let mut channels = FxHashMap::default();
        for c in &spec.channels {
            if channels.insert(c.0.clone(), ()).is_some() {
                return Err(CatalogError::Duplicate {
                    kind: "channel",
                    name: c.to_string(),
                });
            }
        }
        let too_deep = |kind, name: &str| CatalogError::TooDeep {
            kind,
            name: name.chars().take(64).collect(),
        };
        if let Some(p) = spec
            .purposes
            .iter()
            .find(|p| usize::from(p.id.depth()) > MAX_DEPTH)
        {
            return Err(too_deep("purpose", p.id.as_str()));
        }
        if let Some(d) = spec
            .data
            .iter()
            .find(|d| usize::from(d.depth()) > MAX_DEPTH)
        {
            return Err(too_deep("data category", d.as_str()));
        }
        let purposes = Names::new(spec.purposes.iter().map(|p| p.id.as_str()));
        let requires_channel = spec.purposes.iter().map(|p| p.requires_channel).collect();
        Ok(Self {
            names: Arc::new(CatalogNames {
                purposes,
                requires_channel,
                data: Names::new(spec.data.iter().map(DataCategory::as_str)),
                channels: Names::new(spec.channels.iter().map(Channel::as_str)),
            }),
            spec,
        })
    }

    /// Parses and validates a catalog from JSON.
    pub fn from_json(json: &str) -> Result<Self, CatalogError> {
        let spec: CatalogSpec = serde_json::from_str(json).map_err(|e| {
            // A bad name inside is reported by serde with our message; keep it readable.
            CatalogError::Json(e.to_string())
        })?;
        Self::new(spec)
    }

    /// The default travel and mobility catalog.
    pub fn default_travel() -> Self {
        // The shipped catalog is checked by a unit test; fall back to an empty one rather
        // than panic if it were ever edited into an invalid state.
        Self::from_json(DEFAULT_CATALOG_JSON).unwrap_or_else(|_| Self::empty())
    }

    fn empty() -> Self {
        Self {
            names: Arc::default(),
            spec: CatalogSpec {
                purposes: vec![],
                data: vec![],
                channels: vec![],
            },
        }
    }

    /// The catalog as it was written.
    pub fn spec(&self) -> &CatalogSpec {
        &self.spec
    }

    /// Whether the purpose exists, and if so whether it requires a channel.
    pub fn purpose_requires_channel(&self, purpose: &str) -> Option<bool> {
        self.purpose_node(purpose)
            .map(|i| self.names.requires_channel[i as usize])
    }

    /// Whether the data category exists.
    pub fn has_data(&self, data: &str) -> bool {
        self.data_node(data).is_some()
    }

    /// Whether the channel exists.
    pub fn has_channel(&self, channel: &str) -> bool {
        self.channel_node(channel).is_some()
    }

    /// The resolved names, shared by the catalog's clones.
    pub(crate) fn names(&self) -> &Arc<CatalogNames> {
        &self.names
    }

    /// The node of a purpose.
    pub(crate) fn purpose_node(&self, purpose: &str) -> Option<u32> {
        self.names.purposes.get(purpose)
    }

    /// The node of a data category.
    pub(crate) fn data_node(&self, data: &str) -> Option<u32> {
        self.names.data.get(data)
    }

    /// The node of a channel.
    pub(crate) fn channel_node(&self, channel: &str) -> Option<u32> {
        self.names.channels.get(channel)
    }

    /// Whether the purpose at `node` requires a channel.
    pub(crate) fn node_requires_channel(&self, node: u32) -> bool {
        self.names.requires_channel[node as usize]
    }

    /// A purpose by node.
    pub(crate) fn purpose(&self, node: u32) -> &Node {
        &self.names.purposes.nodes[node as usize]
    }

    /// A data category by node.
    pub(crate) fn data(&self, node: u32) -> &Node {
        &self.names.data.nodes[node as usize]
    }

    /// All purposes, in catalog order.
    pub fn purposes(&self) -> impl Iterator<Item = &PurposeSpec> {
        self.spec.purposes.iter()
    }

    /// All data categories, in catalog order.
    pub fn data_categories(&self) -> impl Iterator<Item = &DataCategory> {
        self.spec.data.iter()
    }

    /// All channels, in catalog order.
    pub fn channels(&self) -> impl Iterator<Item = &Channel> {
        self.spec.channels.iter()
    }
}

impl Serialize for Catalog {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.spec.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Catalog {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Catalog::new(CatalogSpec::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(purposes: &[(&str, bool)], data: &[&str], channels: &[&str]) -> CatalogSpec {
        CatalogSpec {
            purposes: purposes
                .iter()
                .map(|(p, r)| PurposeSpec {
                    id: p.parse().unwrap(),
                    requires_channel: *r,
                })
                .collect(),
            data: data.iter().map(|d| d.parse().unwrap()).collect(),
            channels: channels.iter().map(|c| c.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn the_default_catalog_is_valid() {
        let catalog = Catalog::from_json(DEFAULT_CATALOG_JSON).unwrap();
        assert_eq!(
            catalog.purpose_requires_channel("marketing.offers"),
            Some(true)
        );
        assert_eq!(catalog.purpose_requires_channel("service"), Some(false));
        assert!(catalog.has_data("travel.itinerary"));
        assert!(catalog.has_channel("sms"));
        assert_eq!(Catalog::default_travel(), catalog);
    }

    #[test]
    fn validation_names_the_problem() {
        let deep: Vec<String> = (1..=MAX_DEPTH + 1)
            .map(|n| vec!["a"; n].join("."))
            .collect();
        let refs: Vec<&str> = deep.iter().map(String::as_str).collect();
        assert!(Catalog::new(spec(&[], &refs[..MAX_DEPTH], &[])).is_ok());
        assert!(matches!(
            Catalog::new(spec(&[], &refs, &[])),
            Err(CatalogError::TooDeep {
                kind: "data category",
                ..
            })
        ));
        let purposes: Vec<(&str, bool)> = refs.iter().map(|&p| (p, false)).collect();
        assert!(matches!(
            Catalog::new(spec(&purposes, &[], &[])),
            Err(CatalogError::TooDeep {
                kind: "purpose",
                ..
            })
        ));
        let missing = spec(&[("marketing.offers", true)], &[], &[]);
        assert!(matches!(
            Catalog::new(missing),
            Err(CatalogError::MissingParent { .. })
        ));
        let dup = spec(&[("service", false), ("service", false)], &[], &[]);
        assert!(matches!(
            Catalog::new(dup),
            Err(CatalogError::Duplicate { .. })
        ));
        let dropped = spec(
            &[("marketing", true), ("marketing.offers", false)],
            &[],
            &[],
        );
        assert!(matches!(
            Catalog::new(dropped),
            Err(CatalogError::ChannelRequirementDropped { .. })
        ));
        let data = spec(&[], &["contact.email"], &[]);
        assert!(matches!(
            Catalog::new(data),
            Err(CatalogError::MissingParent { .. })
        ));
        let dup_channel = spec(&[], &[], &["email", "email"]);
        assert!(matches!(
            Catalog::new(dup_channel),
            Err(CatalogError::Duplicate { .. })
        ));
        assert!(Catalog::from_json(r#"{"purposes":[],"data":[],"channels":["e.mail"]}"#).is_err());
        assert!(
            Catalog::from_json(r#"{"purposes":[{"id":"Bad"}],"data":[],"channels":[]}"#).is_err()
        );
        assert!(Catalog::from_json("[]").is_err());
    }

    #[test]
    fn names_and_patterns() {
        let p: PurposeId = "marketing.offers".parse().unwrap();
        assert_eq!(p.depth(), 2);
        assert_eq!(p.parent().unwrap().as_str(), "marketing");
        assert!(PurposeId::new("marketing").unwrap().contains(&p));
        assert!(!PurposeId::new("market").unwrap().contains(&p));
        assert!(!p.contains(&PurposeId::new("marketing").unwrap()));
        assert!("a..b".parse::<PurposeId>().is_err());
        assert!("".parse::<PurposeId>().is_err());
        assert!("*".parse::<PurposeId>().is_err());
        let any: Pattern<PurposeId> = "*".parse().unwrap();
        assert_eq!(any.depth(), 0);
        assert!(any.covers(&p));
        assert_eq!(serde_json::to_string(&any).unwrap(), "\"*\"");
    }
}
