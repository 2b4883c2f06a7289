//! Wire codes (spec/rest-api.md, section 5) and the outcome of an entry in the ledger order.
//!
//! The ledger uses the codes an entry can be rejected with; the HTTP and gRPC mappings of every
//! code are written once, in the control plane, against this enum.

use std::fmt;

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $n:literal => $s:literal,)*) => {
        /// A wire code: the stable name of an error, shared by every surface and client.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum Code {
            $($(#[$doc])* $name = $n,)*
        }

        impl Code {
            /// Every code, in table order.
            pub const ALL: &'static [Code] = &[$(Code::$name,)*];

            /// The wire name, e.g. `TASK_ALREADY_CLAIMED`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$name => $s,)* }
            }

            /// The code with this wire name.
            pub fn from_name(s: &str) -> Option<Code> {
                match s { $($s => Some(Code::$name),)* _ => None }
            }

            /// The stable number stored in the view.
            pub fn number(self) -> u16 {
                self as u16
            }

            /// The code with this stored number.
            pub fn from_number(n: u16) -> Option<Code> {
                match n { $($n => Some(Code::$name),)* _ => None }
            }
        }
    };
}

codes! {
    /// Schema or shape failure.
    BadRequest = 1 => "BAD_REQUEST",
    /// A list cursor that does not belong to the resource.
    BadCursor = 2 => "BAD_CURSOR",
    /// Unknown route, entry, task or skill.
    NotFound = 3 => "NOT_FOUND",
    /// Bearer token missing or wrong.
    Unauthorized = 4 => "UNAUTHORIZED",
    /// Host header is not loopback.
    ForbiddenHost = 5 => "FORBIDDEN_HOST",
    /// Origin is not loopback or does not match Host.
    ForbiddenOrigin = 6 => "FORBIDDEN_ORIGIN",
    /// Entry validation failed for a reason other than size.
    BadEntry = 7 => "BAD_ENTRY",
    /// Body or entry payload too large.
    PayloadTooLarge = 8 => "PAYLOAD_TOO_LARGE",
    /// Claim of a task that is not open.
    TaskNotOpen = 9 => "TASK_NOT_OPEN",
    /// A claim that lost the race in ledger order.
    TaskAlreadyClaimed = 10 => "TASK_ALREADY_CLAIMED",
    /// Complete of a complete task.
    TaskAlreadyComplete = 11 => "TASK_ALREADY_COMPLETE",
    /// Complete or release of a task claimed by someone else.
    NotClaimer = 12 => "NOT_CLAIMER",
    /// Release of a task that is not claimed.
    NotClaimed = 13 => "NOT_CLAIMED",
    /// Claim of a task assigned to someone else.
    NotAssignee = 14 => "NOT_ASSIGNEE",
    /// A write by a peer that is not a member.
    NotAMember = 15 => "NOT_A_MEMBER",
    /// An op that needs an indexer.
    NotIndexer = 16 => "NOT_INDEXER",
    /// An op that needs the creator.
    NotCreator = 17 => "NOT_CREATOR",
    /// Skill content does not hash to its checksum.
    SkillChecksumMismatch = 18 => "SKILL_CHECKSUM_MISMATCH",
    /// Skill name or version fails the name rule.
    BadSkillName = 19 => "BAD_SKILL_NAME",
    /// Confirmation missing or wrong.
    NotConfirmed = 20 => "NOT_CONFIRMED",
    /// No pact with that alias or id.
    UnknownPact = 21 => "UNKNOWN_PACT",
    /// The pact has no key yet.
    PactNotReady = 22 => "PACT_NOT_READY",
    /// Alias already bound to another pact.
    PactAliasExists = 23 => "PACT_ALIAS_EXISTS",
    /// Invite token malformed.
    InviteBadShape = 24 => "INVITE_BAD_SHAPE",
    /// Invite token for another pact.
    InviteWrongPact = 25 => "INVITE_WRONG_PACT",
    /// Invite nonce unknown.
    UnknownInvite = 26 => "UNKNOWN_INVITE",
    /// Invite revoked.
    InviteRevoked = 27 => "INVITE_REVOKED",
    /// Invite already spent.
    InviteSpent = 28 => "INVITE_SPENT",
    /// The remote peer is not an indexer.
    InviteNotIndexer = 29 => "INVITE_NOT_INDEXER",
    /// Invite expired (by ledger time).
    InviteExpired = 30 => "INVITE_EXPIRED",
    /// No peer connections at all.
    NoAgents = 31 => "NO_AGENTS",
    /// No indexer answered.
    NoIndexerReachable = 32 => "NO_INDEXER_REACHABLE",
    /// The peer link dropped mid-request.
    AgentDisconnected = 33 => "AGENT_DISCONNECTED",
    /// A write did not reach the view in time.
    ViewTimeout = 34 => "VIEW_TIMEOUT",
    /// Rate limit tripped.
    RateLimited = 35 => "RATE_LIMITED",
    /// A body in a content type other than JSON.
    UnsupportedMediaType = 36 => "UNSUPPORTED_MEDIA_TYPE",
    /// A wait for confirmation timed out.
    NotConfirmedYet = 37 => "NOT_CONFIRMED_YET",
    /// Removing or demoting the last indexer.
    LastIndexer = 38 => "LAST_INDEXER",
    /// A capability a later release brings.
    NotSupportedYet = 39 => "NOT_SUPPORTED_YET",
    /// A bug.
    Internal = 40 => "INTERNAL",
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an entry had no effect although it is in the order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Its author was not an active member just before its position.
    NotMember,
    /// Its author was frozen by a fork proof before its position.
    Frozen,
    /// Its author was re-admitted, and the entry's seq is below the re-admission's `from_seq`.
    Stale,
}

impl DropReason {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::NotMember => "not-member",
            DropReason::Frozen => "frozen",
            DropReason::Stale => "stale",
        }
    }
}

/// What applying an entry did. Final once the entry is confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Every op took effect.
    Applied,
    /// No op took effect; the code says why.
    Rejected(Code),
    /// No op took effect because of who wrote it.
    Dropped(DropReason),
}

impl Outcome {
    /// `applied`, the wire code, or `dropped` (spec/rest-api.md, Decision 4).
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Rejected(c) => c.as_str(),
            Outcome::Dropped(_) => "dropped",
        }
    }

    /// A compact stable encoding: 0 applied, 1..=999 a code number, 1000+ a drop reason.
    pub fn to_u16(self) -> u16 {
        match self {
            Outcome::Applied => 0,
            Outcome::Rejected(c) => c.number(),
            Outcome::Dropped(DropReason::NotMember) => 1000,
            Outcome::Dropped(DropReason::Frozen) => 1001,
            Outcome::Dropped(DropReason::Stale) => 1002,
        }
    }

    /// Inverse of [`Outcome::to_u16`].
    pub fn from_u16(n: u16) -> Option<Outcome> {
        Some(match n {
            0 => Outcome::Applied,
            1000 => Outcome::Dropped(DropReason::NotMember),
            1001 => Outcome::Dropped(DropReason::Frozen),
            1002 => Outcome::Dropped(DropReason::Stale),
            n => Outcome::Rejected(Code::from_number(n)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_by_name_and_number() {
        for &c in Code::ALL {
            assert_eq!(Code::from_name(c.as_str()), Some(c));
            assert_eq!(Code::from_number(c.number()), Some(c));
            let o = Outcome::Rejected(c);
            assert_eq!(Outcome::from_u16(o.to_u16()), Some(o));
        }
        for o in [
            Outcome::Applied,
            Outcome::Dropped(DropReason::NotMember),
            Outcome::Dropped(DropReason::Frozen),
            Outcome::Dropped(DropReason::Stale),
        ] {
            assert_eq!(Outcome::from_u16(o.to_u16()), Some(o));
        }
    }
}
