"""Two people for every knob: approving, rejecting and withdrawing policy proposals (the table and the
proposing side are ``service.accounts.proposals``)."""
