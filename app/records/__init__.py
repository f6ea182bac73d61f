"""What observations and survey visits share as records: the review decisions made on them and
their history, read by the domains above (observations, surveys, review) without those knowing
each other."""
