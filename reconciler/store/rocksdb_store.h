// RocksDbStore: the production Store, one RocksDB database in a directory of its own.
//
// Key layout (all in the default column family, told apart by a one-letter prefix):
//   o/<Kind>/<name>   -> {"apiVersion","kind","metadata","spec"}   the desired object, no status
//   s/<Kind>/<name>   -> status JSON                               controller-owned, optional
//   e/<20-digit seq>  -> {"seq","time","kind","name","type","reason","message"}
//   h/<key>           -> history JSON (incidents, ...), append-only by convention
//   m/event_seq       -> last event seq assigned (decimal), written in the same batch as the event
//   m/revision        -> the store's revision (decimal), written in the same batch as each change
// Object and status records are "r<revision>;<json>": the revision of their last write (a store
// written before revisions existed is migrated at open: every such record takes revision 1).
// <Kind> is the kind's name ("VirtualMachine"). Zero-padded seqs make key order equal seq order,
// and "o/<Kind>/" prefix iteration yields a kind's objects sorted by name.
//
// Why prefixes and not column families: the whole data set is small (a site's objects, at most
// max_events events, history), every batch that spans records (an apply that deletes o/ and s/,
// an event and its counter) is a plain WriteBatch on one family, and no family handles have to
// be created, reopened in the right order or listed on open. Column families would buy separate
// tuning, which nothing here needs.
//
// Durability: CommitApply, PutHistory(sync=true) and PutStatus(sync=true) use WriteOptions.sync,
// so they (and every write before them: one WAL) survive power loss once they return; every write is a single atomic WriteBatch, so a process
// killed at any moment reopens with each batch fully present or fully absent. Events are not
// synced (informative; a process crash still keeps them, a power cut may drop the last few).
//
// Thread safety: all methods are thread-safe. Object writes (CommitApply, PutStatusIf) are
// serialised by one mutex that owns the revision counter and an in-memory index of every
// object's and status's revision (built at open), so each write's conditions (the object still
// exists, the revisions expected) cost no read and are atomic with the write; events are serialised by another mutex that owns the seq counter. Reads use a RocksDB
// snapshot, so an object and its status are read together. The change feed (ChangeFeed) is kept
// in memory: a restarted controller lists the store anyway.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "reconciler/store/store.h"

namespace vmk::reconciler {

struct RocksDbStoreOptions {
  // Events kept; older ones are deleted as new ones are appended. Must be at least 1.
  size_t max_events = 10000;
};

class RocksDbStore : public Store {
 public:
  // Opens (creating if missing) the database at `path`. Unavailable if another process or
  // another RocksDbStore in this process holds it open.
  static StatusOr<std::unique_ptr<RocksDbStore>> Open(const std::string& path,
                                                      const RocksDbStoreOptions& options);
  ~RocksDbStore() override;  // closes the database

  RocksDbStore(const RocksDbStore&) = delete;
  RocksDbStore& operator=(const RocksDbStore&) = delete;

  StatusOr<std::optional<specs::Object>> Get(specs::Kind kind, const std::string& name) override;
  StatusOr<std::vector<specs::Object>> List(specs::Kind kind) override;
  StatusOr<std::vector<std::string>> ListNames(specs::Kind kind) override;
  StatusOr<int64_t> CommitApply(const ApplyBatch& batch) override;
  StatusOr<int64_t> PutStatusIf(const StatusWrite& write) override;
  int64_t Revision() override;
  StatusOr<ChangeBatch> Changes(const ChangesRequest& request) override;
  StatusOr<int64_t> AppendEvent(Event event) override;
  StatusOr<std::vector<Event>> ListEvents(std::optional<ObjectRef> object, int64_t after_seq,
                                          size_t limit) override;
  Status PutHistory(const std::string& key, const specs::Json& value, bool sync) override;
  Status Sync() override;
  StatusOr<std::vector<std::pair<std::string, specs::Json>>> ListHistory(
      const std::string& prefix) override;

 private:
  struct Impl;  // keeps RocksDB types out of this header
  explicit RocksDbStore(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace vmk::reconciler
