-- Schema version 3: deleting a collection is two steps.
--
-- Removing a large collection's objects in one transaction held the write
-- lock for as long as it took (16.9 s for 1,200,000 objects), and every
-- other writer waited. Now the collection is first marked deleted, which
-- hides it at once together with its grants, and its objects are then
-- removed in short transactions; the row goes last. A crash in between
-- leaves a hidden collection whose emptying resumes later, never a
-- half-visible one.
ALTER TABLE collections ADD COLUMN deleted_at INTEGER;
