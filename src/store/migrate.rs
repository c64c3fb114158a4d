//! Bringing a data directory written by an earlier build to
//! `SCHEMA_VERSION`. Records carry their own layout version and are read in
//! their old layouts as they are (`Record::upgrade`); what changes here is
//! what older builds never kept: indexes and counters.

use std::collections::HashSet;
use std::ops::Bound;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, WriteTransaction};

use super::records::{ChatHead, MessageRecord, Record, UsageRecord};
use super::tables;
use super::tx::Tx;
use super::{Query, SCHEMA_VERSION, StoreError};
use crate::id::ChatId;
use crate::timestamp::Timestamp;

/// Index entries written per transaction while upgrading, so a large
/// directory never needs one huge transaction.
const UPGRADE_BATCH: u64 = 50_000;

pub(super) fn migrate(db: &Database) -> Result<(), StoreError> {
    let found = {
        let txn = db.begin_write()?;
        for &table in tables::ALL {
            txn.open_table(table)?;
        }
        let found = schema_version(&txn)?;
        txn.commit()?;
        found
    };
    match found {
        None | Some(SCHEMA_VERSION) => {}
        Some(1) => {
            upgrade_from_1(db)?;
            index_messages(db)?;
        }
        Some(2 | 3) => index_messages(db)?,
        Some(found) if found > SCHEMA_VERSION => {
            return Err(StoreError::NewerSchema {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        Some(found) => {
            return Err(StoreError::Corrupt(format!(
                "unknown schema version {found}"
            )));
        }
    }
    let txn = db.begin_write()?;
    txn.open_table(tables::META)?.insert(
        tables::SCHEMA_VERSION_KEY,
        SCHEMA_VERSION.to_be_bytes().as_slice(),
    )?;
    count_upload_usage(&txn)?;
    appoint_first_admin(&txn)?;
    txn.commit()?;
    Ok(())
}

fn schema_version(txn: &WriteTransaction) -> Result<Option<u32>, StoreError> {
    let meta = txn.open_table(tables::META)?;
    let Some(value) = meta.get(tables::SCHEMA_VERSION_KEY)? else {
        return Ok(None);
    };
    let bytes: [u8; 4] = value
        .value()
        .try_into()
        .map_err(|_| StoreError::Corrupt("schema version".into()))?;
    Ok(Some(u32::from_be_bytes(bytes)))
}

/// Version 1 had no message changes: every message is its own one change,
/// filed in the change index under `rev` = `seq`. And uploads that a
/// message or avatar named were kept for good: they stay so. Safe to run
/// again after a crash part-way (it writes the same entries); the version
/// moves to 2 only after it finished.
fn upgrade_from_1(db: &Database) -> Result<(), StoreError> {
    let heads: Vec<(ChatId, u64)> = {
        let txn = db.begin_read()?;
        let table = txn.open_table(tables::CHAT_HEADS)?;
        table
            .iter()?
            .map(|entry| {
                let (key, value) = entry?;
                let id: [u8; 12] = key
                    .value()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("chat head key".into()))?;
                Ok((
                    ChatId::from_bytes(id),
                    ChatHead::decode(value.value())?.last_seq,
                ))
            })
            .collect::<Result<_, StoreError>>()?
    };
    let total: u64 = heads.iter().map(|(_, last)| last).sum();
    tracing::info!(
        chats = heads.len(),
        messages = total,
        "upgrading the data directory to schema 2: indexing message changes"
    );
    let mut txn = db.begin_write()?;
    let mut in_batch = 0;
    for (chat, last_seq) in heads {
        for seq in 1..=last_seq {
            txn.open_table(tables::CHANGES)?.insert(
                tables::change(chat, seq).as_slice(),
                seq.to_be_bytes().as_slice(),
            )?;
            in_batch += 1;
            if in_batch == UPGRADE_BATCH {
                txn.commit()?;
                txn = db.begin_write()?;
                in_batch = 0;
            }
        }
    }
    keep_named_uploads(&txn)?;
    txn.commit()?;
    Ok(())
}

/// Messages marked per transaction while upgrading to schema 4.
const INDEX_BATCH: usize = 50_000;

/// Schema 3 added search, and schema 4 its index in blocks: drops schema
/// 3's index and marks every stored message for the search indexer, which
/// files them in the background once the server runs (or at once under
/// `clavox migrate`); search answers `partial` meanwhile. Safe to run again
/// after a crash part-way (it writes the same entries); the version moves
/// on only after it finished.
fn index_messages(db: &Database) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    txn.delete_table(tables::RETIRED_SEARCH_TERMS)?;
    txn.commit()?;
    let total = db.begin_read()?.open_table(tables::MESSAGES)?.len()?;
    tracing::info!(
        messages = total,
        "upgrading the data directory to schema 4: messages will be indexed for search in the background"
    );
    let mut from: Vec<u8> = Vec::new();
    loop {
        let batch: Vec<(Vec<u8>, MessageRecord)> = {
            let txn = db.begin_read()?;
            let table = txn.open_table(tables::MESSAGES)?;
            let range =
                table.range::<&[u8]>((Bound::Excluded(from.as_slice()), Bound::Unbounded))?;
            range
                .take(INDEX_BATCH)
                .map(|entry| {
                    let (key, value) = entry?;
                    Ok((key.value().to_vec(), MessageRecord::decode(value.value())?))
                })
                .collect::<Result<_, StoreError>>()?
        };
        let Some((last, _)) = batch.last() else {
            return Ok(());
        };
        from.clone_from(last);
        let txn = db.begin_write()?;
        let tx = Tx::new(&txn);
        for (_, message) in &batch {
            tx.put_search_pending(message.chat, message.seq)?;
        }
        drop(tx);
        txn.commit()?;
    }
}

fn keep_named_uploads(txn: &WriteTransaction) -> Result<(), StoreError> {
    let tx = Tx::new(txn);
    let unnamed: HashSet<[u8; 16]> = tx
        .unnamed_uploads(Timestamp::from_millis(i64::MAX), usize::MAX)?
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    for upload in tx.uploads()? {
        if !unnamed.contains(&upload.id) {
            tx.keep_upload(&upload.id)?;
        }
    }
    Ok(())
}

/// Gives a data directory from before usage was kept the usage of the
/// uploads it has. Every stored upload adds to its owner's usage, so uploads
/// without any usage can only come from such a directory; this runs once.
fn count_upload_usage(txn: &WriteTransaction) -> Result<(), StoreError> {
    if !txn.open_table(tables::UPLOAD_USAGE)?.is_empty()? {
        return Ok(());
    }
    let tx = Tx::new(txn);
    let mut totals = std::collections::HashMap::<crate::id::UserId, u64>::new();
    for upload in tx.uploads()? {
        *totals.entry(upload.owner).or_default() += upload.size;
    }
    for (user, bytes) in totals {
        tx.put_upload_usage(user, &UsageRecord { bytes })?;
    }
    Ok(())
}

/// Data directories from before roles existed have accounts but no admin:
/// the oldest account becomes the admin, as it would have on a new server.
fn appoint_first_admin(txn: &WriteTransaction) -> Result<(), StoreError> {
    if !txn.open_table(tables::ADMINS)?.is_empty()? {
        return Ok(());
    }
    let tx = Tx::new(txn);
    let oldest = tx.users()?.into_iter().min_by_key(|user| user.created_at);
    if let Some(user) = oldest {
        tracing::info!(user_id = %user.id, phone = %user.phone, "the oldest account is now the admin (change it with `clavox users promote` and `demote`)");
        tx.put_admin(
            user.id,
            &crate::store::AdminRecord {
                since: Timestamp::now(),
            },
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data_dir::DataDir;
    use crate::id::UserId;
    use crate::store::{Store, UploadRecord};
    use crate::timestamp::Timestamp;

    fn upload(owner: UserId, size: u64) -> UploadRecord {
        UploadRecord {
            id: rand::random(),
            owner,
            name: "file".into(),
            content_type: "application/octet-stream".into(),
            size,
            sha256: [0; 32],
            dimensions: None,
            created_at: Timestamp::now(),
        }
    }

    #[test]
    fn a_directory_from_before_usage_was_kept_gets_the_usage_of_its_uploads() {
        let dir = tempfile::tempdir().unwrap();
        let (ana, budi) = (UserId::generate(), UserId::generate());
        {
            // Uploads as an earlier build stored them: no usage beside them.
            let db = Database::create(DataDir::new(dir.path()).database()).unwrap();
            let txn = db.begin_write().unwrap();
            for record in [upload(ana, 100), upload(ana, 250), upload(budi, 7)] {
                Tx::new(&txn).put_upload(&record).unwrap();
            }
            txn.commit().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let reader = store.read().unwrap();
        assert_eq!(reader.upload_usage(ana).unwrap().bytes, 350);
        assert_eq!(reader.upload_usage(budi).unwrap().bytes, 7);
    }

    #[test]
    fn a_schema_1_directory_gets_its_messages_in_the_change_index_and_keeps_named_uploads() {
        let dir = tempfile::tempdir().unwrap();
        let chat = ChatId::generate();
        let owner = UserId::generate();
        let (named, unnamed) = (upload(owner, 5), upload(owner, 6));
        {
            // As version 1 wrote them: a head of two fields, the version
            // key at 1, uploads named by messages off the unnamed list.
            let db = Database::create(DataDir::new(dir.path()).database()).unwrap();
            let txn = db.begin_write().unwrap();
            let mut head = vec![1];
            head.extend(postcard::to_allocvec(&(3u64, Timestamp::now())).unwrap());
            txn.open_table(tables::CHAT_HEADS)
                .unwrap()
                .insert(chat.as_bytes().as_slice(), head.as_slice())
                .unwrap();
            txn.open_table(tables::META)
                .unwrap()
                .insert(tables::SCHEMA_VERSION_KEY, 1u32.to_be_bytes().as_slice())
                .unwrap();
            let tx = Tx::new(&txn);
            for record in [&named, &unnamed] {
                tx.put_upload(record).unwrap();
            }
            tx.remove_unnamed_upload(named.created_at, &named.id)
                .unwrap();
            drop(tx);
            txn.commit().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let reader = store.read().unwrap();
        assert_eq!(reader.changed_since(chat, 0, 10).unwrap(), vec![1, 2, 3]);
        assert_eq!(reader.changed_since(chat, 2, 10).unwrap(), vec![3]);
        assert_eq!(reader.chat_head(chat).unwrap().unwrap().last_rev, 3);
        assert!(reader.upload_is_named(&named.id).unwrap());
        assert!(!reader.upload_is_named(&unnamed.id).unwrap());
    }
}
