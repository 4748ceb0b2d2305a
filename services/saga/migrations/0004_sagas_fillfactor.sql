-- Every step of a saga rewrites its row. Room left on each page lets
-- Postgres write the new version beside the old one and skip the indexes
-- (a HOT update) when no indexed column changed, which a step that follows
-- at once no longer does (the due time stays). Before, each step added an
-- entry to every index of the table and left the old row to vacuum: no
-- update of the sagas table in a bench run was HOT. A row is about 2 KB once
-- the step log has grown, so half of each page stays free for new versions.
-- Applies to pages written from now on.
ALTER TABLE sagas SET (fillfactor = 50);
