#include "providers/hypervisor/libvirt/libvirt_hypervisor.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <utility>
#include <unistd.h>

#include "common/log.h"
#include "providers/hypervisor/libvirt/domain_xml.h"
#include "providers/hypervisor/libvirt/libvirt_connection.h"
#include "providers/hypervisor/libvirt/libvirt_event_loop.h"
#include "providers/hypervisor/libvirt/libvirt_storage_pool.h"
#include "providers/hypervisor/libvirt/xml_document.h"

namespace vmk::providers {

using libvirt_internal::CloseInBackground;
using libvirt_internal::Connection;
using libvirt_internal::Handlers;
using libvirt_internal::LastError;
using libvirt_internal::OpenAttempt;
using libvirt_internal::OpenResult;
using libvirt_internal::ReadLastError;
using libvirt_internal::RunBounded;
using libvirt_internal::StartOpen;
using libvirt_internal::WaitForOpen;

namespace {

constexpr char kEmbeddedPrefix[] = "test:///embedded/";

DomainState MapState(int state) {
  switch (state) {
    case VIR_DOMAIN_RUNNING: return DomainState::kRunning;
    case VIR_DOMAIN_BLOCKED: return DomainState::kBlocked;
    case VIR_DOMAIN_PAUSED: return DomainState::kPaused;
    case VIR_DOMAIN_SHUTDOWN: return DomainState::kShutdown;
    case VIR_DOMAIN_SHUTOFF: return DomainState::kShutoff;
    case VIR_DOMAIN_CRASHED: return DomainState::kCrashed;
    case VIR_DOMAIN_PMSUSPENDED: return DomainState::kSuspended;
    default: return DomainState::kNoState;
  }
}

using DomainHandle = libvirt_internal::Handle<virDomainPtr, virDomainFree>;

std::string DomainName(virDomainPtr dom) {
  const char* n = virDomainGetName(dom);
  return n ? n : "";
}

// Reads one domain's state and, when it carries our mark, its managed config.
// NotFound when the domain vanished meanwhile.
Status ReadDomainInfo(Connection& c, virDomainPtr dom, DomainInfo* info) {
  info->name = DomainName(dom);
  char uuid[VIR_UUID_STRING_BUFLEN];
  if (virDomainGetUUIDString(dom, uuid) < 0) return c.Fail("uuid of " + info->name);
  info->uuid = uuid;
  int state = 0, reason = 0;
  if (virDomainGetState(dom, &state, &reason, 0) < 0) return c.Fail("state of " + info->name);
  info->state = MapState(state);
  int persistent = virDomainIsPersistent(dom);
  if (persistent < 0) return c.Fail("persistence of " + info->name);
  info->persistent = persistent == 1;

  char* xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
  if (xml == nullptr) return c.Fail("XML of " + info->name);
  auto parsed = c.documents.Read(info->name, xml);
  std::free(xml);
  if (!parsed.ok()) {
    // Not ours to judge: a definition we cannot read is treated as foreign.
    log::Warning("unreadable domain XML", {{"domain", info->name},
                                           {"error", parsed.status().message()}});
    info->owned = false;
    return Status::Ok();
  }
  info->owned = parsed->owned;
  if (!info->owned) return Status::Ok();
  info->config = parsed->config;
  info->live_generation = 0;
  if (IsActive(info->state)) {
    char* live = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, kOwnerNamespace,
                                      VIR_DOMAIN_AFFECT_LIVE);
    if (live != nullptr) {
      auto mark = c.documents.LiveMark(info->name, live);
      std::free(live);
      if (mark.ok()) info->live_generation = mark->generation;
    } else {
      LastError e = ReadLastError();
      if (e.code != VIR_ERR_NO_DOMAIN_METADATA) return c.Fail("live metadata of " + info->name);
    }
  }
  return Status::Ok();
}

// Looks `name` up: NotFound when absent, FailedPrecondition when it is not ours.
StatusOr<DomainHandle> LookupOwned(Connection& c, const std::string& name) {
  DomainHandle dom(virDomainLookupByName(c.conn, name.c_str()));
  if (dom.get() == nullptr) return c.Fail("look up domain " + name);
  // The persistent definition decides; a transient domain (undefined while running) has only
  // its live one.
  int persistent = virDomainIsPersistent(dom.get());
  if (persistent < 0) return c.Fail("persistence of " + name);
  char* mark = virDomainGetMetadata(dom.get(), VIR_DOMAIN_METADATA_ELEMENT, kOwnerNamespace,
                                    persistent ? VIR_DOMAIN_AFFECT_CONFIG : VIR_DOMAIN_AFFECT_LIVE);
  if (mark == nullptr) {
    LastError e = ReadLastError();
    if (e.code == VIR_ERR_NO_DOMAIN_METADATA) {
      return Status::FailedPrecondition("domain " + name + " is not owned by vmkeeper");
    }
    return c.Fail("owner mark of " + name);
  }
  std::free(mark);
  return dom;
}

std::string EmbeddedNodeDocument(int cpus, int64_t memory_mib) {
  std::string n = std::to_string(cpus);
  return "<node>\n"
         "  <cpu>\n"
         "    <nodes>1</nodes>\n    <sockets>1</sockets>\n    <cores>" + n + "</cores>\n"
         "    <threads>1</threads>\n    <active>" + n + "</active>\n"
         "    <mhz>2000</mhz>\n    <model>x86_64</model>\n"
         "  </cpu>\n"
         "  <memory>" + std::to_string(memory_mib * 1024) + "</memory>\n"
         "</node>\n";
}

bool ValidEmbeddedName(const std::string& name) {
  if (name.empty() || name.size() > 200 || name[0] == '.') return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

}  // namespace

LibvirtHypervisor::LibvirtHypervisor(std::string host_name, std::string uri,
                                     ConnectOptions options, Clock* clock)
    : host_name_(std::move(host_name)),
      uri_(std::move(uri)),
      options_(std::move(options)),
      clock_(clock),
      open_uri_(uri_),
      handlers_(std::make_shared<Handlers>()),
      beat_handlers_(std::make_shared<Handlers>()) {
  if (uri_.rfind(kEmbeddedPrefix, 0) == 0) {
    std::filesystem::path dir = options_.embedded_host_dir.empty()
                                    ? std::filesystem::temp_directory_path() / "vmkeeper-embedded"
                                    : std::filesystem::path(options_.embedded_host_dir);
    std::error_code ec;
    std::filesystem::path abs = std::filesystem::absolute(dir, ec);
    if (ec) abs = dir;
    std::string name = uri_.substr(std::strlen(kEmbeddedPrefix));
    embedded_node_path_ = (abs / (name + ".xml")).lexically_normal().string();
    open_uri_ = "test://" + embedded_node_path_;
  }
}

LibvirtHypervisor::~LibvirtHypervisor() {
  {
    MutexLock lock(&handlers_->mu);
    handlers_->detached = true;
  }
  std::shared_ptr<Connection> conn;
  std::shared_ptr<Connection> beat;
  {
    MutexLock lock(&mu_);
    conn = std::move(conn_);
    pending_.reset();  // a running attempt owns itself and closes what it opened
    beat = std::move(beat_conn_);
    beat_pending_.reset();
  }
  // The heartbeat's connection may be to a hung daemon as well.
  CloseInBackground(std::move(beat));
  // A connection known dead may be to a hung daemon, whose close would not return: it closes
  // on a thread of its own. A healthy one closes here (bounded by keepalive), unless a call in
  // flight on another thread still holds it.
  if (conn != nullptr && !conn->context->alive) CloseInBackground(std::move(conn));
}

Status LibvirtHypervisor::WriteEmbeddedNodeDocument() {
  std::string name = uri_.substr(std::strlen(kEmbeddedPrefix));
  if (!ValidEmbeddedName(name)) {
    return Status::InvalidArgument("embedded host name must be [A-Za-z0-9._-]+: " + uri_);
  }
  std::filesystem::path path(embedded_node_path_);
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) {
    return Status::Unavailable("create " + path.parent_path().string() + ": " + ec.message());
  }
  // Written aside and renamed, so a concurrent opener never reads half a document.
  std::string tmp = embedded_node_path_ + ".tmp." + std::to_string(::getpid()) + "." +
                    std::to_string(reinterpret_cast<uintptr_t>(this));
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << EmbeddedNodeDocument(options_.embedded_cpus, options_.embedded_memory_mib);
    if (!out.flush()) return Status::Unavailable("write " + tmp);
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status::Unavailable("rename " + tmp + ": " + ec.message());
  return Status::Ok();
}

bool LibvirtHypervisor::IsAlive() {
  std::shared_ptr<Connection> c;
  {
    MutexLock lock(&mu_);
    c = conn_;
  }
  return c != nullptr && c->alive();
}

Status LibvirtHypervisor::Connect() {
  std::shared_ptr<Connection> stale;  // closed outside the lock
  std::shared_ptr<OpenAttempt> attempt;
  {
    MutexLock lock(&mu_);
    if (conn_ != nullptr && conn_->alive()) return Status::Ok();
    stale = std::move(conn_);
    if (pending_ == nullptr) {
      VMK_RETURN_IF_ERROR(LibvirtEventLoop::Get()->Start());
      if (!embedded_node_path_.empty()) VMK_RETURN_IF_ERROR(WriteEmbeddedNodeDocument());
      pending_ = StartOpen(open_uri_, options_, handlers_, clock_);
    }
    attempt = pending_;
  }
  CloseInBackground(std::move(stale));

  std::optional<OpenResult> ended =
      WaitForOpen(clock_, *attempt, clock_->Now() + options_.open_timeout);
  if (!ended) {
    log::Warning("libvirt connect timed out", {{"host", host_name_}, {"uri", uri_}});
    return Status::DeadlineExceeded("connect to " + uri_ + ": no answer within " +
                                    std::to_string(options_.open_timeout.count()) + " ms");
  }
  const std::shared_ptr<Connection>& opened = ended->result;
  const Status& status = ended->status;
  MutexLock lock(&mu_);
  if (pending_ == attempt) {
    pending_.reset();
    if (opened) conn_ = opened;
  }
  if (!status.ok()) {
    log::Warning("libvirt connect failed", {{"host", host_name_}, {"error", status.message()}});
    return status;
  }
  if (opened) log::Info("libvirt connected", {{"host", host_name_}, {"uri", uri_}});
  return Status::Ok();
}

StatusOr<std::shared_ptr<Connection>> LibvirtHypervisor::Current() {
  MutexLock lock(&mu_);
  if (conn_ == nullptr) return Status::Unavailable("not connected to " + uri_);
  if (!conn_->context->alive) return Status::Unavailable("connection to " + uri_ + " is dead");
  return conn_;
}

std::chrono::milliseconds LibvirtHypervisor::CallTimeout() const {
  // Keepalive ends the wait on a hung daemon (see RunBounded); this only bounds a call that a
  // live daemon never answers. Never shorter than keepalive's own verdict plus the open timeout.
  int ka = std::max(options_.keepalive_interval_seconds, 0);
  auto keepalive_verdict =
      options_.open_timeout +
      std::chrono::seconds(static_cast<int64_t>(ka) * (options_.keepalive_count + 1));
  return std::max<std::chrono::milliseconds>(keepalive_verdict, kSlowCallLimit);
}

Status LibvirtHypervisor::CheckAlive() {
  VMK_ASSIGN_OR_RETURN(auto conn, Current());
  // A daemon busy with a slow call still answers keepalive: while a call runs, the connection's
  // liveness (kept by keepalive and the close callback) is the heartbeat, so a heartbeat never
  // waits behind a slow operation and a busy host is not taken for a dead one.
  if (conn->calls.Busy()) {
    return conn->alive() ? Status::Ok()
                         : Status::Unavailable("connection to " + uri_ + " closed");
  }
  return GetHostInfo().status();
}

HeartbeatResult LibvirtHypervisor::Heartbeat(std::chrono::milliseconds timeout) {
  if (open_uri_.rfind("test:", 0) == 0) return Hypervisor::Heartbeat(timeout);
  bool closed = false;
  HeartbeatResult r = HeartbeatAttempt(timeout, &closed);
  // The connection closed under the call (EOF: the daemon or the host went away; the close
  // callback had not told us yet): reconnect now, so this beat says whether the address refuses
  // or hangs instead of leaving that to the next one, an interval later.
  if (closed) r = HeartbeatAttempt(timeout, &closed);
  return r;
}

HeartbeatResult LibvirtHypervisor::HeartbeatAttempt(std::chrono::milliseconds timeout,
                                                    bool* closed) {
  using Outcome = HeartbeatResult::Outcome;
  *closed = false;
  auto ms = [&](Duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
  };
  const MonoTime now = clock_->Now();
  std::shared_ptr<Connection> conn;
  std::shared_ptr<Connection> stale;
  std::shared_ptr<OpenAttempt> attempt;
  MonoTime attempt_since;
  {
    MutexLock lock(&mu_);
    if (beat_conn_ != nullptr && beat_conn_->alive()) {
      conn = beat_conn_;
      if (conn->calls.Busy()) {
        // The last heartbeat is still unanswered: that is the answer, now, however long it
        // has been waiting (each beat must not wait its own timeout again behind it).
        return {Outcome::kNoAnswer, "the heartbeat sent " + ms(now - beat_sent_) +
                                        " ms ago has no answer from " + uri_};
      }
      beat_sent_ = now;
    } else {
      stale = std::move(beat_conn_);
      if (beat_pending_ == nullptr) {
        if (Status s = LibvirtEventLoop::Get()->Start(); !s.ok()) {
          return {Outcome::kError, s.message()};
        }
        beat_pending_ = StartOpen(open_uri_, options_, beat_handlers_, clock_,
                                  /*domain_events=*/false);
        beat_pending_since_ = now;
      }
      attempt = beat_pending_;
      attempt_since = beat_pending_since_;
    }
  }
  CloseInBackground(std::move(stale));

  if (attempt != nullptr) {
    std::optional<OpenResult> ended =
        WaitForOpen(clock_, *attempt, std::max(attempt_since + timeout, now));
    if (!ended) {
      return {Outcome::kNoAnswer, "connect to " + uri_ + " pending for " +
                                      ms(clock_->Now() - attempt_since) + " ms"};
    }
    {
      MutexLock lock(&mu_);
      if (beat_pending_ == attempt) {
        beat_pending_.reset();
        if (ended->result) beat_conn_ = ended->result;
      }
    }
    if (!ended->status.ok()) {
      return {ended->refused ? Outcome::kRefused : Outcome::kError, ended->status.message()};
    }
    // The open itself was a round trip to the daemon (the handshake, the driver's type): it
    // answered.
    return {};
  }

  Status answered = RunBounded<Status>(
      clock_, timeout, conn, "heartbeat of " + uri_,
      [uri = uri_](Connection& c) -> Status {
        virNodeInfo node;
        if (virNodeGetInfo(c.conn, &node) < 0) return c.Fail("heartbeat of " + uri);
        return Status::Ok();
      },
      /*mark_dead_on_timeout=*/false);
  if (answered.ok()) return {};
  if (answered.code() == StatusCode::kDeadlineExceeded) {
    return {Outcome::kNoAnswer, answered.message()};
  }
  // Closed under the call (EOF, keepalive): the caller reconnects at once.
  if (answered.code() == StatusCode::kUnavailable) {
    *closed = true;
    return {Outcome::kNoAnswer, answered.message()};
  }
  return {Outcome::kError, answered.message()};
}

StatusOr<HostInfo> LibvirtHypervisor::GetHostInfo() {
  VMK_ASSIGN_OR_RETURN(auto conn, Current());
  return RunBounded<StatusOr<HostInfo>>(
      clock_, CallTimeout(), conn, "node info of " + uri_,
      [uri = uri_, ephemeral = !embedded_node_path_.empty()](Connection& c) -> StatusOr<HostInfo> {
        virNodeInfo node;
        if (virNodeGetInfo(c.conn, &node) < 0) return c.Fail("node info of " + uri);
        HostInfo info;
        info.ephemeral = ephemeral;
        info.cpus = static_cast<int>(node.cpus);
        info.memoryMiB = static_cast<int64_t>(node.memory / 1024);
        info.hypervisor = c.hypervisor_type;
        char* hostname = virConnectGetHostname(c.conn);
        if (hostname != nullptr) {
          info.hostname = hostname;
          std::free(hostname);
        } else {
          virResetLastError();
        }
        return info;
      });
}

StatusOr<std::vector<DomainInfo>> LibvirtHypervisor::ListDomains() {
  VMK_ASSIGN_OR_RETURN(auto conn, Current());
  return RunBounded<StatusOr<std::vector<DomainInfo>>>(
      clock_, CallTimeout(), conn, "list domains on " + uri_,
      [uri = uri_](Connection& c) -> StatusOr<std::vector<DomainInfo>> {
        virDomainPtr* doms = nullptr;
        int n = virConnectListAllDomains(c.conn, &doms, 0);
        if (n < 0) return c.Fail("list domains on " + uri);
        std::vector<DomainHandle> handles;
        handles.reserve(n);
        for (int i = 0; i < n; ++i) handles.emplace_back(doms[i]);
        std::free(doms);

        std::vector<DomainInfo> result;
        result.reserve(n);
        std::set<std::string> listed;
        for (const DomainHandle& h : handles) {
          DomainInfo info;
          Status s = ReadDomainInfo(c, h.get(), &info);
          if (s.code() == StatusCode::kNotFound) continue;  // undefined while we listed
          VMK_RETURN_IF_ERROR(s);
          listed.insert(info.name);
          result.push_back(std::move(info));
        }
        c.documents.Retain(listed);  // undefined domains go from the cache
        return result;
      });
}

StatusOr<std::optional<DomainInfo>> LibvirtHypervisor::GetDomain(const std::string& name) {
  VMK_ASSIGN_OR_RETURN(auto conn, Current());
  return RunBounded<StatusOr<std::optional<DomainInfo>>>(
      clock_, CallTimeout(), conn, "look up domain " + name,
      [name](Connection& c) -> StatusOr<std::optional<DomainInfo>> {
        DomainHandle dom(virDomainLookupByName(c.conn, name.c_str()));
        if (dom.get() == nullptr) {
          Status s = c.Fail("look up domain " + name);
          if (s.code() == StatusCode::kNotFound) return std::optional<DomainInfo>();
          return s;
        }
        DomainInfo info;
        Status s = ReadDomainInfo(c, dom.get(), &info);
        if (s.code() == StatusCode::kNotFound) return std::optional<DomainInfo>();
        VMK_RETURN_IF_ERROR(s);
        return std::optional<DomainInfo>(std::move(info));
      });
}

Status LibvirtHypervisor::DefineDomain(const DomainConfig& config) {
  if (config.name.empty()) return Status::InvalidArgument("domain name must not be empty");
  if (config.cpus <= 0) return Status::InvalidArgument("cpus must be positive");
  if (config.memoryMiB <= 0) return Status::InvalidArgument("memoryMiB must be positive");
  VMK_ASSIGN_OR_RETURN(auto conn, Current());
  return RunBounded<Status>(
      clock_, CallTimeout(), conn, "define domain " + config.name,
      [config](Connection& c) -> Status {
        std::string uuid;
        {
          auto existing = LookupOwned(c, config.name);
          if (existing.ok()) {
            char buf[VIR_UUID_STRING_BUFLEN];
            if (virDomainGetUUIDString(existing->get(), buf) < 0) {
              return c.Fail("uuid of " + config.name);
            }
            uuid = buf;
          } else if (existing.status().code() != StatusCode::kNotFound) {
            return existing.status();
          }
        }
        std::string xml = GenerateDomainXml(config, c.flavor, uuid);
        DomainHandle dom(virDomainDefineXML(c.conn, xml.c_str()));
        if (dom.get() == nullptr) return c.Fail("define domain " + config.name);
        return Status::Ok();
      });
}

Status LibvirtHypervisor::StartDomain(const std::string& name) {
  VMK_ASSIGN_OR_RETURN(auto conn, Current());
  return RunBounded<Status>(
      clock_, CallTimeout(), conn, "start domain " + name, [name](Connection& c) -> Status {
        VMK_ASSIGN_OR_RETURN(DomainHandle dom, LookupOwned(c, name));
        int active = virDomainIsActive(dom.get());
        if (active < 0) return c.Fail("state of " + name);
        if (active == 1) return Status::Ok();
        if (virDomainCreate(dom.get()) < 0) {
          Status s = c.Fail("start domain " + name);
          // Lost a race with another starter: running is what was asked for.
          if (s.code() == StatusCode::kFailedPrecondition && virDomainIsActive(dom.get()) == 1) {
            return Status::Ok();
          }
          return s;
        }
        return Status::Ok();
      });
}

Status LibvirtHypervisor::ShutdownDomain(const std::string& name) {
  VMK_ASSIGN_OR_RETURN(auto conn, Current());
  return RunBounded<Status>(
      clock_, CallTimeout(), conn, "shut down domain " + name, [name](Connection& c) -> Status {
        VMK_ASSIGN_OR_RETURN(DomainHandle dom, LookupOwned(c, name));
        int active = virDomainIsActive(dom.get());
        if (active < 0) return c.Fail("state of " + name);
        if (active == 0) return Status::Ok();
        if (virDomainShutdown(dom.get()) < 0) {
          Status s = c.Fail("shut down domain " + name);
          if (s.code() == StatusCode::kFailedPrecondition && virDomainIsActive(dom.get()) == 0) {
            return Status::Ok();
          }
          return s;
        }
        return Status::Ok();
      });
}

Status LibvirtHypervisor::DestroyDomain(const std::string& name) {
  VMK_ASSIGN_OR_RETURN(auto conn, Current());
  return RunBounded<Status>(
      clock_, CallTimeout(), conn, "destroy domain " + name, [name](Connection& c) -> Status {
        VMK_ASSIGN_OR_RETURN(DomainHandle dom, LookupOwned(c, name));
        int active = virDomainIsActive(dom.get());
        if (active < 0) return c.Fail("state of " + name);
        if (active == 0) return Status::Ok();
        if (virDomainDestroy(dom.get()) < 0) {
          Status s = c.Fail("destroy domain " + name);
          if (s.code() == StatusCode::kFailedPrecondition && virDomainIsActive(dom.get()) == 0) {
            return Status::Ok();
          }
          return s;
        }
        return Status::Ok();
      });
}

Status LibvirtHypervisor::UndefineDomain(const std::string& name) {
  VMK_ASSIGN_OR_RETURN(auto conn, Current());
  return RunBounded<Status>(
      clock_, CallTimeout(), conn, "undefine domain " + name, [name](Connection& c) -> Status {
        auto dom = LookupOwned(c, name);
        if (dom.status().code() == StatusCode::kNotFound) return Status::Ok();
        if (!dom.ok()) return dom.status();
        // Drivers accept different flag sets (the test driver knows no NVRAM): fall back on
        // InvalidArgument, from the most thorough set to none.
        const unsigned int flag_sets[] = {
            VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
                VIR_DOMAIN_UNDEFINE_NVRAM,
            VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | VIR_DOMAIN_UNDEFINE_MANAGED_SAVE,
            VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA,
            0};
        Status s;
        for (unsigned int flags : flag_sets) {
          if (virDomainUndefineFlags(dom->get(), flags) == 0) return Status::Ok();
          s = c.Fail("undefine domain " + name);
          if (s.code() == StatusCode::kNotFound) return Status::Ok();
          if (s.code() != StatusCode::kInvalidArgument) return s;
        }
        return s;
      });
}

std::shared_ptr<StoragePool> LibvirtHypervisor::OpenStoragePool(const std::string& name) {
  // The pool reaches the connection through this object, valid while it lives (see the header).
  return std::make_shared<LibvirtStoragePool>(
      name, uri_, [this]() { return Current(); }, clock_, CallTimeout());
}

namespace {

// The targets of a running domain's disks (device='disk'), from its live XML.
StatusOr<std::vector<std::string>> LiveDiskTargets(Connection& c, virDomainPtr dom,
                                                   const std::string& name) {
  char* xml = virDomainGetXMLDesc(dom, 0);
  if (xml == nullptr) return c.Fail("XML of " + name);
  auto doc = XmlDocument::Parse(xml);
  std::free(xml);
  if (!doc.ok()) return doc.status().WithContext("XML of " + name);
  std::vector<std::string> targets;
  auto devices = doc->root().Child("devices");
  if (!devices) return targets;
  for (const XmlElement& dev : devices->Children()) {
    if (!dev.Is("disk") || dev.Attribute("device").value_or("disk") != "disk") continue;
    if (auto target = dev.Child("target")) {
      if (auto t = target->Attribute("dev")) targets.push_back(*t);
    }
  }
  return targets;
}

}  // namespace

std::string DiskSnapshotXml(const std::vector<std::string>& all_targets,
                            const std::vector<DiskSnapshotTarget>& disks) {
  std::string x = "<domainsnapshot>\n  <disks>\n";
  for (const std::string& target : all_targets) {
    auto it = std::find_if(disks.begin(), disks.end(),
                           [&](const DiskSnapshotTarget& d) { return d.target == target; });
    if (it == disks.end()) {
      x += "    <disk name='" + XmlEscape(target) + "' snapshot='no'/>\n";
      continue;
    }
    x += "    <disk name='" + XmlEscape(target) + "' snapshot='external' type='file'>\n";
    x += "      <driver type='qcow2'/>\n";
    x += "      <source file='" + XmlEscape(it->new_path) + "'/>\n";
    x += "    </disk>\n";
  }
  x += "  </disks>\n</domainsnapshot>\n";
  return x;
}

Status LibvirtHypervisor::SnapshotDisks(const std::string& domain,
                                        const std::vector<DiskSnapshotTarget>& disks) {
  if (disks.empty()) return Status::InvalidArgument("snapshot of " + domain + ": no disks");
  VMK_ASSIGN_OR_RETURN(auto conn, Current());
  return RunBounded<Status>(
      clock_, CallTimeout(), conn, "snapshot disks of " + domain,
      [domain, disks](Connection& c) -> Status {
        const std::string what = "snapshot disks of " + domain;
        VMK_ASSIGN_OR_RETURN(DomainHandle dom, LookupOwned(c, domain));
        int active = virDomainIsActive(dom.get());
        if (active < 0) return c.Fail("state of " + domain);
        if (active == 0) return Status::FailedPrecondition(what + ": the domain is not running");
        VMK_ASSIGN_OR_RETURN(auto targets, LiveDiskTargets(c, dom.get(), domain));
        for (const DiskSnapshotTarget& d : disks) {
          if (std::find(targets.begin(), targets.end(), d.target) == targets.end()) {
            return Status::InvalidArgument(what + ": it has no disk " + d.target);
          }
        }
        std::string xml = DiskSnapshotXml(targets, disks);
        // Atomic: QEMU switches every listed disk in one transaction or none. No metadata:
        // the controller's store is the record, and libvirt's would block undefining.
        const unsigned int flags = VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY |
                                   VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC |
                                   VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA;
        virDomainSnapshotPtr snap = virDomainSnapshotCreateXML(dom.get(), xml.c_str(), flags);
        if (snap == nullptr) return c.Fail(what);
        virDomainSnapshotFree(snap);
        return Status::Ok();
      });
}

StatusOr<std::vector<std::string>> DiskChainFromXml(const std::string& domain_xml,
                                                    const std::string& target) {
  auto doc = XmlDocument::Parse(domain_xml);
  if (!doc.ok()) return doc.status();
  auto devices = doc->root().Child("devices");
  if (devices) {
    for (const XmlElement& dev : devices->Children()) {
      if (!dev.Is("disk")) continue;
      auto t = dev.Child("target");
      if (!t || t->Attribute("dev").value_or("") != target) continue;
      std::vector<std::string> chain;
      std::optional<XmlElement> layer = dev;
      while (layer) {
        auto source = layer->Child("source");
        if (!source) break;  // the end of the chain: <backingStore/>
        auto file = source->Attribute("file");
        if (!file) break;
        chain.push_back(*file);
        layer = layer->Child("backingStore");
      }
      return chain;
    }
  }
  return Status::NotFound("no disk " + target);
}

namespace {

// Whether a block job runs on the disk `target` (libvirt 9.0 reports one job per disk), and,
// when one does, whether it is a commit.
struct BlockJobState {
  bool running = false;
  bool commit = false;
};

StatusOr<BlockJobState> ReadBlockJob(Connection& c, virDomainPtr dom, const std::string& target,
                                     const std::string& what) {
  virDomainBlockJobInfo info{};
  int r = virDomainGetBlockJobInfo(dom, target.c_str(), &info, 0);
  if (r < 0) return c.Fail(what);
  BlockJobState state;
  state.running = r == 1;
  state.commit = r == 1 && info.type == VIR_DOMAIN_BLOCK_JOB_TYPE_COMMIT;
  return state;
}

}  // namespace

Status LibvirtHypervisor::CommitDiskLayer(const std::string& domain, const LayerCommit& commit,
                                          std::chrono::milliseconds timeout) {
  const std::string what =
      "commit of " + commit.top + " into " + commit.base + " (" + domain + " " + commit.target +
      ")";
  if (commit.target.empty() || commit.base.empty() || commit.top.empty()) {
    return Status::InvalidArgument(what + ": target, base and top are needed");
  }
  VMK_ASSIGN_OR_RETURN(auto conn, Current());
  // 1. The job started, or found still running: a caller that gave up on its wait (a deadline,
  // a controller killed) left it in QEMU, where it goes on; a second commit would be refused.
  Status started = RunBounded<Status>(
      clock_, CallTimeout(), conn, what, [domain, commit, what](Connection& c) -> Status {
        VMK_ASSIGN_OR_RETURN(DomainHandle dom, LookupOwned(c, domain));
        int active = virDomainIsActive(dom.get());
        if (active < 0) return c.Fail("state of " + domain);
        if (active == 0) return Status::FailedPrecondition(what + ": the domain is not running");
        char* xml = virDomainGetXMLDesc(dom.get(), 0);
        if (xml == nullptr) return c.Fail("XML of " + domain);
        auto chain = DiskChainFromXml(xml, commit.target);
        std::free(xml);
        if (!chain.ok()) return Status::InvalidArgument(what + ": " + chain.status().message());
        VMK_ASSIGN_OR_RETURN(BlockJobState job, ReadBlockJob(c, dom.get(), commit.target, what));
        if (job.running) {
          if (job.commit) return Status::Ok();
          return Status::FailedPrecondition(what + ": the disk runs another block job");
        }
        // Only an intermediate layer directly over base: a commit of the active top never ends
        // by itself (it waits for a pivot), and one spanning layers would merge a snapshot the
        // caller keeps.
        auto top = std::find(chain->begin(), chain->end(), commit.top);
        if (top == chain->end() || top == chain->begin() || top + 1 == chain->end() ||
            *(top + 1) != commit.base) {
          return Status::InvalidArgument(what + ": not an intermediate layer directly over "
                                         "the base in the disk's chain");
        }
        // No VIR_DOMAIN_BLOCK_COMMIT_RELATIVE: the layer over top is rewritten onto base's
        // absolute path, as every layer of a pool is created (VolumeChain follows absolute
        // paths). No DELETE: libvirt 9.0's QEMU driver refuses it; the caller deletes top.
        if (virDomainBlockCommit(dom.get(), commit.target.c_str(), commit.base.c_str(),
                                 commit.top.c_str(), 0, 0) < 0) {
          return c.Fail(what);
        }
        return Status::Ok();
      });
  if (!started.ok()) return started;

  // 2. Its end. A non-active commit ends by itself; each look is a short bounded call.
  const MonoTime deadline = clock_->Now() + timeout;
  Mutex wait_mu;
  std::condition_variable wait_cv;  // never notified: the poll interval is the wait
  for (;;) {
    StatusOr<BlockJobState> job = RunBounded<StatusOr<BlockJobState>>(
        clock_, CallTimeout(), conn, what,
        [domain, commit, what](Connection& c) -> StatusOr<BlockJobState> {
          VMK_ASSIGN_OR_RETURN(DomainHandle dom, LookupOwned(c, domain));
          return ReadBlockJob(c, dom.get(), commit.target, what);
        });
    if (!job.ok()) return job.status();
    if (!job->running) break;
    const MonoTime now = clock_->Now();
    if (now >= deadline) {
      return Status::DeadlineExceeded(what + ": the block job still runs after " +
                                      std::to_string(timeout.count()) + " ms");
    }
    MutexLock l(&wait_mu);
    clock_->WaitUntil(l.native(), wait_cv, std::min(deadline, now + kCommitPollInterval));
  }

  // 3. Merged, or failed: the live chain tells (a failed job leaves top in it).
  return RunBounded<Status>(
      clock_, CallTimeout(), conn, what, [domain, commit, what](Connection& c) -> Status {
        VMK_ASSIGN_OR_RETURN(DomainHandle dom, LookupOwned(c, domain));
        char* xml = virDomainGetXMLDesc(dom.get(), 0);
        if (xml == nullptr) return c.Fail("XML of " + domain);
        auto chain = DiskChainFromXml(xml, commit.target);
        std::free(xml);
        if (!chain.ok()) return chain.status().WithContext(what);
        const bool top_gone =
            std::find(chain->begin(), chain->end(), commit.top) == chain->end();
        const bool base_kept =
            std::find(chain->begin(), chain->end(), commit.base) != chain->end();
        if (!top_gone || !base_kept) {
          return Status::Aborted(what + ": the block job ended without merging the layer");
        }
        return Status::Ok();
      });
}

void LibvirtHypervisor::SetDomainEventHandler(std::function<void(const DomainEvent&)> handler) {
  MutexLock lock(&handlers_->mu);
  handlers_->domain = std::move(handler);
}

void LibvirtHypervisor::SetConnectionEventHandler(
    std::function<void(const ConnectionEvent&)> handler) {
  MutexLock lock(&handlers_->mu);
  handlers_->connection = std::move(handler);
}

Status LibvirtHypervisor::DefineRawXmlForTest(const std::string& xml) {
  VMK_ASSIGN_OR_RETURN(auto conn, Current());
  return RunBounded<Status>(clock_, CallTimeout(), conn, "define raw XML",
                            [xml](Connection& c) -> Status {
                              DomainHandle dom(virDomainDefineXML(c.conn, xml.c_str()));
                              if (dom.get() == nullptr) return c.Fail("define raw XML");
                              return Status::Ok();
                            });
}

int LibvirtHypervisor::CallsInFlightForTest() { return libvirt_internal::CallsInFlight(); }

bool LibvirtHypervisor::WaitForCallsForTest(std::chrono::milliseconds timeout) {
  return libvirt_internal::WaitForCallsInFlight(timeout);
}

void LibvirtHypervisor::Abandon() {
  MutexLock lock(&mu_);
  if (conn_ != nullptr && conn_->context->alive.exchange(false)) {
    log::Warning("libvirt connection abandoned: the host is taken for failed",
                 {{"host", host_name_}, {"uri", uri_}});
  }
}

void LibvirtHypervisor::MarkDeadForTest() {
  MutexLock lock(&mu_);
  if (conn_ != nullptr) conn_->context->alive = false;
}

int LibvirtHypervisor::PendingOpensForTest() { return libvirt_internal::PendingOpens(); }

bool LibvirtHypervisor::WaitForPendingOpensForTest(std::chrono::milliseconds timeout) {
  return libvirt_internal::WaitForPendingOpens(timeout);
}

std::unique_ptr<Hypervisor> LibvirtHypervisorFactory::Create(const std::string& host_name,
                                                             const std::string& uri,
                                                             const ConnectOptions& options) {
  return std::make_unique<LibvirtHypervisor>(host_name, uri, options, clock_);
}

}  // namespace vmk::providers
