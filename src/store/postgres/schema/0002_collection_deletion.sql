-- Schema version 2: deleting a collection is two steps, as with SQLite.
-- The collection is first marked deleted, which hides it at once (its
-- grants go in the same transaction and its alias is freed); its objects
-- are then removed in short transactions, and the row goes with the last
-- of them. A node that dies in between leaves a hidden collection whose
-- emptying any node resumes later, never a half-visible one.
ALTER TABLE collections ADD COLUMN deleted_at bigint;
CREATE INDEX collections_deleted ON collections(deleted_at) WHERE deleted_at IS NOT NULL;
