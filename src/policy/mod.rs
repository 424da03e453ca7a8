//! Security groups and network ACLs in compiled form, and their evaluation.
