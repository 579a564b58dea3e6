"""Errors of policy proposals: one class per code (codes and statuses are a public contract)."""

from __future__ import annotations

from service.errors import Conflict, Forbidden, InvalidInput, NotFound

__all__ = [
    "InvalidProposalStatus",
    "NotApprover",
    "NotProposer",
    "OwnProposal",
    "ProposalNotFound",
    "ProposalNotPending",
    "ProposalStale",
    "ProposerConflict",
]


class ProposalNotFound(NotFound):
    code = "proposal_not_found"
    message = "No such proposal."


class OwnProposal(Forbidden):
    code = "own_proposal"
    message = "Another person must decide a change you proposed."


class ProposerConflict(Forbidden):
    code = "proposer_conflict"
    message = (
        "Another person must decide this change: the proposer's account was opened with a code you "
        "issued (or yours with theirs), or you are one household."
    )


class NotApprover(Forbidden):
    code = "not_approver"
    message = (
        "Only another admin of the community, an official of a region above it or a platform admin may "
        "decide this proposal."
    )


class NotProposer(Forbidden):
    code = "not_proposer"
    message = "Only the person who proposed a change may withdraw it."


class ProposalNotPending(Conflict):
    code = "proposal_not_pending"
    message = "This proposal was already %(status)s."


class ProposalStale(Conflict):
    code = "proposal_stale"
    message = "The setting changed since this proposal was made; propose the change again."


class InvalidProposalStatus(InvalidInput):
    code = "invalid_proposal_status"
    message = "status: pending, approved, rejected, withdrawn or superseded."
