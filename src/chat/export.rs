//! A person's own data as a tar archive (`GET /api/users/profile/export`):
//! `profile.json`, one `chats/<chatId>.json` per chat with every message
//! of it they can see, and their own uploads under `uploads/`. Written
//! entry by entry from one snapshot, holding at most one page of messages
//! in memory, however large the history.

use std::io::{self, Write};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::id::{ChatId, UserId};
use crate::store::{Query, Reader, UploadRecord};
use crate::timestamp::Timestamp;

use super::views::{ChatView, UserView};
use super::{ChatService, chat_of};

/// Messages read from the store at a time.
const PAGE: u64 = 500;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    user: UserView,
    /// The people the user blocks.
    blocked: Vec<UserView>,
    exported_at: Timestamp,
}

impl ChatService {
    /// Writes `user`'s archive to `out`. Blocking: run it off the async
    /// threads. An error part-way leaves `out` with a truncated archive,
    /// which the caller must not present as whole.
    pub fn write_export(&self, user: UserId, out: impl Write) -> Result<()> {
        let reader = self.store().read()?;
        let record = reader.user(user)?.ok_or(Error::NotFound)?;
        let now = Timestamp::now();
        let mut archive = tar::Builder::new(out);
        let profile = Profile {
            user: self.view_of(user, &record)?,
            blocked: self.blocked_users(user)?,
            exported_at: now,
        };
        append_generated(&mut archive, "profile.json", now, |out| {
            serde_json::to_writer_pretty(out, &profile).map_err(io::Error::other)
        })
        .map_err(written)?;
        for chat in reader.chats_of(user)? {
            let view = super::chats::view_for(&reader, &chat_of(&reader, chat, user)?, user)?;
            append_generated(&mut archive, &format!("chats/{chat}.json"), now, |out| {
                write_chat(&reader, user, chat, &view, out)
            })
            .map_err(written)?;
        }
        for upload in reader.uploads()? {
            if upload.owner == user {
                self.append_upload(&mut archive, &upload).map_err(written)?;
            }
        }
        archive
            .into_inner()
            .and_then(|mut out| out.flush())
            .map_err(written)
    }

    fn append_upload(
        &self,
        archive: &mut tar::Builder<impl Write>,
        upload: &UploadRecord,
    ) -> io::Result<()> {
        let file = match std::fs::File::open(self.inner.blobs.path_of(&upload.id)) {
            Ok(file) => file,
            // Removed since the snapshot (a sweep): it is not theirs any more.
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(error),
        };
        let mut header = header(upload.size, upload.created_at);
        let name = format!(
            "uploads/{}-{}",
            upload.id_hex(),
            safe_file_name(&upload.name)
        );
        archive.append_data(&mut header, name, file)
    }
}

/// An archive that could not be written: the reader went away, or a file
/// could not be read.
fn written(error: io::Error) -> Error {
    Error::Internal(Box::new(error))
}

/// `{"chat": Chat, "messages": [Message]}`, one page of messages at a time.
fn write_chat(
    reader: &Reader,
    viewer: UserId,
    chat: ChatId,
    view: &ChatView,
    out: &mut dyn Write,
) -> io::Result<()> {
    let last_seq = reader
        .chat_head(chat)
        .map_err(io::Error::other)?
        .map_or(0, |head| head.last_seq);
    out.write_all(b"{\"chat\":")?;
    serde_json::to_writer(&mut *out, view).map_err(io::Error::other)?;
    out.write_all(b",\"messages\":[")?;
    let mut first_written = false;
    let mut first = 1;
    while first <= last_seq {
        let last = (first + PAGE - 1).min(last_seq);
        let messages = reader
            .messages(chat, first, last)
            .map_err(io::Error::other)?;
        let views = super::messages::views_for(reader, viewer, chat, &messages)
            .map_err(io::Error::other)?;
        for message in views.iter().filter(|message| !message.hidden) {
            if first_written {
                out.write_all(b",")?;
            }
            serde_json::to_writer(&mut *out, message).map_err(io::Error::other)?;
            first_written = true;
        }
        first = last + 1;
    }
    out.write_all(b"]}")
}

/// Appends a file whose bytes `write` produces: run once to measure them
/// (a tar header comes first and holds the size), then again into the
/// archive. Both runs read the same snapshot, so they write the same bytes.
fn append_generated(
    archive: &mut tar::Builder<impl Write>,
    path: &str,
    at: Timestamp,
    write: impl Fn(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let mut counted = Counter(0);
    write(&mut counted)?;
    let mut header = header(counted.0, at);
    header.set_path(path)?;
    header.set_cksum();
    let out = archive.get_mut();
    out.write_all(header.as_bytes())?;
    let mut measured = Counter(0);
    write(&mut Tee(out, &mut measured))?;
    if measured.0 != counted.0 {
        return Err(io::Error::other(format!(
            "{path} changed size while it was written"
        )));
    }
    // Entries fill whole 512-byte blocks.
    let padding = (512 - counted.0 % 512) % 512;
    out.write_all(&vec![0; padding as usize])
}

fn header(size: u64, at: Timestamp) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mtime(u64::try_from(at.millis() / 1000).unwrap_or(0));
    header
}

/// A file name that cannot leave `uploads/` or confuse a file manager.
fn safe_file_name(name: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '/' | '\\') {
                '_'
            } else {
                c
            }
        })
        .take(80)
        .collect();
    match name.trim_start_matches('.') {
        "" => "file".to_owned(),
        name => name.to_owned(),
    }
}

/// Counts bytes written, keeping none.
struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0 += bytes.len() as u64;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes to `0` and counts in `1`.
struct Tee<'a, W: Write>(&'a mut W, &'a mut Counter);

impl<W: Write> Write for Tee<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let written = self.0.write(bytes)?;
        self.1.write_all(&bytes[..written])?;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_stay_inside_the_uploads_folder() {
        assert_eq!(safe_file_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(safe_file_name(".."), "file");
        assert_eq!(safe_file_name("foto liburan.jpg"), "foto liburan.jpg");
        assert_eq!(safe_file_name("a\nb"), "a_b");
    }
}
