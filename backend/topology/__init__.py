"""One topology for a whole clip: the head template a tracked reconstruction deforms frame by frame."""
