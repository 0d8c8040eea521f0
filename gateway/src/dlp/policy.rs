//! What to do about a detection: a policy maps each detector type to an action — `block`,
//! `redact`, `mask_and_restore` or `log` — with allowlisted values left alone. The config holds
//! the default policy (`gateway.dlp`); a tenant's own policy overrides it field by field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Detection, Kind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Only record the event.
    Log,
    /// Send `[REDACTED:TYPE]` upstream instead.
    Redact,
    /// Send a placeholder upstream and put the original back in the answer.
    MaskAndRestore,
    /// Refuse the request (400), naming the detector types, never the values.
    Block,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Log => "log",
            Action::Redact => "redact",
            Action::MaskAndRestore => "mask_and_restore",
            Action::Block => "block",
        }
    }

    /// The action named `name`, as [`Action::as_str`] spells it.
    pub fn parse(name: &str) -> Option<Action> {
        [Action::Log, Action::Redact, Action::MaskAndRestore, Action::Block]
            .into_iter()
            .find(|a| a.as_str() == name)
    }
}

/// A DLP policy. Every field is optional, so that a tenant's policy can override only some of
/// the default's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// The action for every secret type not in `actions`.
    pub secrets: Option<Action>,
    /// The action for every personal-data type not in `actions`.
    pub personal_data: Option<Action>,
    /// Per detector type (`aws_access_key`, `email`, …).
    pub actions: BTreeMap<Kind, Action>,
    /// Values never acted on (compared exactly, e.g. a support address).
    pub allowlist: Vec<String>,
    /// Detections less certain than this are ignored (0 to 1).
    pub min_confidence: Option<f32>,
}

impl Policy {
    /// The gateway's default when the config says nothing: secrets are redacted, personal data
    /// is logged.
    pub fn builtin() -> Policy {
        Policy {
            secrets: Some(Action::Redact),
            personal_data: Some(Action::Log),
            min_confidence: Some(0.5),
            ..Policy::default()
        }
    }

    /// `self` over `base`: its fields where set, `base`'s otherwise; actions and allowlists
    /// merge.
    pub fn over(&self, base: &Policy) -> Policy {
        let mut actions = base.actions.clone();
        actions.extend(self.actions.iter().map(|(k, a)| (*k, *a)));
        let mut allowlist = base.allowlist.clone();
        allowlist.extend(self.allowlist.iter().cloned());
        Policy {
            secrets: self.secrets.or(base.secrets),
            personal_data: self.personal_data.or(base.personal_data),
            actions,
            allowlist,
            min_confidence: self.min_confidence.or(base.min_confidence),
        }
    }

    /// The action for a detection of `value`, or `None` when the policy ignores it.
    pub fn action(&self, detection: &Detection, value: &str) -> Option<Action> {
        if detection.confidence < self.min_confidence.unwrap_or(0.0)
            || self.allowlist.iter().any(|a| a == value)
        {
            return None;
        }
        Some(self.action_for(detection.kind))
    }

    /// What the policy does with every detection of `kind` it acts on: its own action for the
    /// type, else the one for secrets or for personal data, else `log`.
    pub fn action_for(&self, kind: Kind) -> Action {
        let default = if kind.is_secret() { self.secrets } else { self.personal_data };
        self.actions.get(&kind).copied().or(default).unwrap_or(Action::Log)
    }

    /// Whether any type may be masked (and so placeholders issued).
    pub fn may_mask(&self) -> bool {
        let masks = |a: &Option<Action>| *a == Some(Action::MaskAndRestore);
        masks(&self.secrets)
            || masks(&self.personal_data)
            || self.actions.values().any(|a| *a == Action::MaskAndRestore)
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.min_confidence.is_some_and(|c| !(0.0..=1.0).contains(&c)) {
            return Err("min_confidence is from 0 to 1".to_owned());
        }
        Ok(())
    }
}
