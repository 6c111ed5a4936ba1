-- Queue reads (issue 4): every queue filters out merged cases, so the queue indexes hold only
-- cases that are not merged (partial indexes) and carry every column a queue page or its
-- capped count reads (`merged_into` too, so that SQLite sees them as covering). A count of up
-- to 1,001 cases is then an index-only range read instead of one table lookup per entry, and
-- the breaching view reads its (next_due_at, id) order straight from the index.
DROP INDEX cases_queue_owner;
DROP INDEX cases_queue_team;
DROP INDEX cases_queue_due;
CREATE INDEX cases_listed_status ON cases (tenant_id, status, updated_at, id, merged_into)
    WHERE merged_into IS NULL;
CREATE INDEX cases_listed_owner ON cases (tenant_id, owner_id, status, updated_at, id, merged_into)
    WHERE merged_into IS NULL;
CREATE INDEX cases_listed_team ON cases (tenant_id, team_id, status, updated_at, id, merged_into)
    WHERE merged_into IS NULL;
CREATE INDEX cases_listed_due ON cases (tenant_id, next_due_at, id, status, merged_into)
    WHERE merged_into IS NULL AND next_due_at IS NOT NULL;
