//! Runtime records (table `runtime_records`): record lines added at run time (by
//! the local API), each under a zone and with an id to remove it by. The store
//! keeps them across restarts; what they mean is the DNS side's business: the
//! caller checks a record line before storing it and DNS answers from memory.
//! Bound: [`RUNTIME_RECORDS_MAX`] rows, checked in the inserting transaction.

use rusqlite::params;

use super::{Store, StoreError, error};

/// Runtime records at most: each is answered from memory too (a few hundred
/// bytes), and a router needs a handful (DHCP-less devices, challenge TXTs).
pub const RUNTIME_RECORDS_MAX: usize = 10_000;

/// One stored runtime record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeRecord {
    pub id: i64,
    /// The zone it belongs to, as the caller names it.
    pub zone: String,
    /// A zone-file record line relative to `zone` (`"nas A 192.168.1.10"`).
    pub record: String,
    pub created_unix: i64,
}

impl Store {
    /// Adds a record in one transaction and returns its id; at
    /// [`RUNTIME_RECORDS_MAX`] records nothing is written and the answer is
    /// [`StoreError::Full`].
    pub fn insert_runtime_record(
        &mut self,
        zone: &str,
        record: &str,
        now_unix: i64,
    ) -> Result<i64, StoreError> {
        let what = format!("insert runtime record `{record}` in {zone}");
        let Store { connection, name } = self;
        let fail = |e: rusqlite::Error| error(name, &what, e);
        let transaction = connection.transaction().map_err(fail)?;
        let count: i64 = transaction
            .query_row("SELECT COUNT(*) FROM runtime_records", [], |row| row.get(0))
            .map_err(fail)?;
        if usize::try_from(count).unwrap_or(usize::MAX) >= RUNTIME_RECORDS_MAX {
            return Err(StoreError::Full(format!(
                "store {name}: {what}: at most {RUNTIME_RECORDS_MAX} runtime records"
            )));
        }
        transaction
            .execute(
                "INSERT INTO runtime_records (zone, record, created) VALUES (?1, ?2, ?3)",
                params![zone, record, now_unix],
            )
            .map_err(fail)?;
        let id = transaction.last_insert_rowid();
        transaction.commit().map_err(fail)?;
        Ok(id)
    }

    /// Every runtime record, oldest first.
    pub fn runtime_records(&self) -> Result<Vec<RuntimeRecord>, StoreError> {
        let what = "read runtime records";
        let mut statement = self
            .connection
            .prepare("SELECT id, zone, record, created FROM runtime_records ORDER BY id")
            .map_err(|e| self.error(what, e))?;
        let rows = statement
            .query_map([], |row| {
                Ok(RuntimeRecord {
                    id: row.get(0)?,
                    zone: row.get(1)?,
                    record: row.get(2)?,
                    created_unix: row.get(3)?,
                })
            })
            .map_err(|e| self.error(what, e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.error(what, e))
    }

    /// Deletes the record `id` (one statement: its own transaction); false when
    /// there was none.
    pub fn delete_runtime_record(&mut self, id: i64) -> Result<bool, StoreError> {
        let deleted = self
            .connection
            .execute("DELETE FROM runtime_records WHERE id = ?1", params![id])
            .map_err(|e| self.error(&format!("delete runtime record {id}"), e))?;
        Ok(deleted > 0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::super::FILE_NAME;
    use super::super::testing::TempDir;
    use super::*;

    #[test]
    fn insert_list_delete_and_survive_reopen() {
        let dir = TempDir::new();
        let path = dir.0.join(FILE_NAME);
        let (first, second) = {
            let mut store = Store::open(&path).unwrap();
            assert!(store.runtime_records().unwrap().is_empty());
            let first = store
                .insert_runtime_record("home.arpa", "nas A 192.168.1.10", 5)
                .unwrap();
            let second = store
                .insert_runtime_record("lan", "printer AAAA fd00::7", 6)
                .unwrap();
            assert_ne!(first, second);
            (first, second)
        };
        let mut store = Store::open(&path).unwrap();
        let expected = |id, zone: &str, record: &str, created_unix| RuntimeRecord {
            id,
            zone: zone.into(),
            record: record.into(),
            created_unix,
        };
        assert_eq!(
            store.runtime_records().unwrap(),
            [
                expected(first, "home.arpa", "nas A 192.168.1.10", 5),
                expected(second, "lan", "printer AAAA fd00::7", 6),
            ]
        );
        assert!(store.delete_runtime_record(first).unwrap());
        assert!(!store.delete_runtime_record(first).unwrap(), "already gone");
        assert_eq!(
            store.runtime_records().unwrap(),
            [expected(second, "lan", "printer AAAA fd00::7", 6)]
        );
        // Ids are never reused (AUTOINCREMENT): a stale id cannot delete a new record.
        let third = store
            .insert_runtime_record("lan", "x A 10.0.0.1", 7)
            .unwrap();
        assert!(third > second);
    }

    #[test]
    fn full_table_refuses_and_writes_nothing() {
        let mut store = Store::open_in_memory().unwrap();
        // Fill to the bound in one statement (one insert per row would be slow).
        store
            .connection
            .execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
                 INSERT INTO runtime_records (zone, record, created)
                 SELECT 'lan', 'x' || i || ' A 10.0.0.1', 1 FROM n",
                params![RUNTIME_RECORDS_MAX as i64],
            )
            .unwrap();
        let error = store
            .insert_runtime_record("lan", "one A 10.0.0.2", 2)
            .unwrap_err();
        assert!(matches!(error, StoreError::Full(_)), "{error}");
        assert!(error.to_string().contains("at most 10000"), "{error}");
        assert_eq!(store.runtime_records().unwrap().len(), RUNTIME_RECORDS_MAX);
        let last = store.runtime_records().unwrap().pop().unwrap();
        assert!(store.delete_runtime_record(last.id).unwrap());
        store
            .insert_runtime_record("lan", "one A 10.0.0.2", 2)
            .unwrap();
    }
}
