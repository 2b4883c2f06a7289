//! Invites: mint, list, revoke, and redeem with this daemon as the indexer (spec/rest-api.md,
//! section 11, "Invites", and Decision 7).

use axum::extract::State;
use axum::response::Response;
use openpact_proto::v1;
use serde::Deserialize;
use serde_json::json;

use super::{confirmed, list as envelope, pact_of, reply, rq};
use crate::error::{ApiResult, GatewayError, answer};
use crate::extract::{Body, Params, Prop, Rule, Schema, patterns};
use crate::state::{AppState, Plane};

/// `GET /invites`: every invite, unpaged, in the list envelope.
pub async fn list<S: Plane>(State(st): State<AppState<S>>, p: Params) -> ApiResult<Response> {
    let r = answer(
        st.plane
            .list_invites(rq(v1::ListInvitesRequest { pact: pact_of(&p)? }))
            .await,
    )?;
    let rows = r.invites.iter().map(crate::json::invite).collect();
    reply(envelope(rows, None, false))
}

/// `POST /invites`.
#[derive(Debug, Deserialize)]
pub struct Mint {
    confirm: bool,
    ttl_ms: Option<u64>,
}

impl Schema for Mint {
    const PROPS: &'static [Prop] = &[
        Prop::req("confirm", Rule::Bool),
        Prop::opt(
            "ttl_ms",
            Rule::Int {
                min: 60_000,
                max: 7_776_000_000,
            },
        ),
    ];
}

/// `POST /invites`: schema, `confirm`, then the daemon (pact lookup, creator check).
pub async fn mint<S: Plane>(
    State(st): State<AppState<S>>,
    p: Params,
    b: Body<Mint>,
) -> ApiResult<Response> {
    confirmed(b.fields.confirm, "Minting an invite")?;
    let r = answer(
        st.plane
            .mint_invite(rq(v1::MintInviteRequest {
                pact: pact_of(&p)?,
                ttl_ms: b.fields.ttl_ms.unwrap_or(0),
                confirm: true,
            }))
            .await,
    )?;
    reply(crate::json::minted(&r))
}

/// `DELETE /invites/{nonce}`.
#[derive(Debug, Deserialize)]
pub struct Revoke {
    confirm: String,
}

impl Schema for Revoke {
    const PROPS: &'static [Prop] = &[Prop::req("confirm", Rule::pattern(patterns::HEX48))];
}

/// `DELETE /invites/{nonce}`: schema, the URL nonce's shape, `confirm` equal to it, then the
/// daemon (pact lookup, creator check, `UNKNOWN_INVITE`).
pub async fn revoke<S: Plane>(
    State(st): State<AppState<S>>,
    p: Params,
    b: Body<Revoke>,
) -> ApiResult<Response> {
    let nonce = p.get("nonce").to_ascii_lowercase();
    if !(patterns::HEX48.test)(&nonce) {
        return Err(GatewayError::bad_request("nonce must be 48-hex"));
    }
    if b.fields.confirm != nonce {
        return Err(GatewayError::not_confirmed(
            "confirm must equal the nonce being revoked.",
        ));
    }
    let r = answer(
        st.plane
            .revoke_invite(rq(v1::RevokeInviteRequest {
                pact: pact_of(&p)?,
                nonce,
                confirm: b.fields.confirm,
            }))
            .await,
    )?;
    reply(json!({ "ok": true, "nonce": r.nonce }))
}

/// `POST /invites/redeem`.
#[derive(Debug, Deserialize)]
pub struct Redeem {
    token: String,
    writer_key: String,
    confirm: bool,
}

impl Schema for Redeem {
    const PROPS: &'static [Prop] = &[
        Prop::req("token", Rule::str(8, 4096)),
        Prop::req("writer_key", Rule::pattern(patterns::HEX64)),
        Prop::req("confirm", Rule::Bool),
    ];
}

/// `POST /invites/redeem`: schema, `confirm` (before the token is decoded), then the daemon.
pub async fn redeem<S: Plane>(
    State(st): State<AppState<S>>,
    p: Params,
    b: Body<Redeem>,
) -> ApiResult<Response> {
    confirmed(b.fields.confirm, "Redeeming an invite")?;
    let r = answer(
        st.plane
            .redeem_invite(rq(v1::RedeemInviteRequest {
                pact: pact_of(&p)?,
                token: b.fields.token,
                writer_key: b.fields.writer_key,
                confirm: true,
                writer_next_seq: 0,
            }))
            .await,
    )?;
    reply(json!({ "ok": true, "nonce": r.nonce }))
}
