"""From desired and live state to a plan: matching, references, diff, ordering, safety."""
