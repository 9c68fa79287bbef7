//! Unit tests of the media session.
