"""Small shared widgets of the record pages and the board: forms, stage bar, timeline, pickers."""
