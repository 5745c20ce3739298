#include "specs/schema.h"

#include <limits>
#include <utility>

namespace vmk::specs {
namespace {

// Small builders keep the table below readable: one line per field where possible.
FieldDef String(std::string name, std::string description) {
  FieldDef f;
  f.name = std::move(name);
  f.type = FieldType::kString;
  f.description = std::move(description);
  return f;
}

FieldDef Int(std::string name, int64_t minimum, int64_t maximum, std::string description) {
  FieldDef f;
  f.name = std::move(name);
  f.type = FieldType::kInt;
  f.minimum = minimum;
  f.maximum = maximum;
  f.description = std::move(description);
  return f;
}

FieldDef Bool(std::string name, bool default_value, std::string description) {
  FieldDef f;
  f.name = std::move(name);
  f.type = FieldType::kBool;
  f.default_value = default_value;
  f.description = std::move(description);
  return f;
}

FieldDef StringMap(std::string name, MapSyntax syntax, std::string description) {
  FieldDef f;
  f.name = std::move(name);
  f.type = FieldType::kStringMap;
  f.map_syntax = syntax;
  f.default_value = Json::object();
  f.description = std::move(description);
  return f;
}

FieldDef Object(std::string name, Presence presence, std::vector<FieldDef> fields,
                std::string description) {
  FieldDef f;
  f.name = std::move(name);
  f.type = FieldType::kObject;
  f.presence = presence;
  f.fields = std::move(fields);
  f.description = std::move(description);
  return f;
}

FieldDef WithDefault(FieldDef f, Json value) {
  f.default_value = std::move(value);
  return f;
}

FieldDef Required(FieldDef f) {
  f.required = true;
  return f;
}

FieldDef WithPattern(FieldDef f, std::string pattern, std::string message) {
  f.pattern = std::move(pattern);
  f.pattern_message = std::move(message);
  return f;
}

FieldDef HostNameList(std::string name, std::string description) {
  FieldDef f;
  f.name = std::move(name);
  f.type = FieldType::kStringArray;
  f.default_value = Json::array();
  f.pattern = kNamePattern;
  f.pattern_message = kNameMessage;
  f.max_length = 63;
  f.unique_items = true;
  f.description = std::move(description);
  return f;
}

// Paths end up in libvirt XML, qemu-img arguments and log lines: a control character (a line
// break, a tab, an escape sequence, NUL) in one is never meant and would garble or cut them.
constexpr char kNoControlCharacters[] = "[^\\x00-\\x1f\\x7f]*";
constexpr char kControlCharactersMessage[] = "control characters (bytes below 0x20, or 0x7f)";

// An absolute path on the host: vmkeeper hands it to libvirt as is.
FieldDef AbsolutePath(std::string name, std::string description) {
  FieldDef f = WithPattern(String(std::move(name), std::move(description)),
                           std::string("^/") + kNoControlCharacters + "$",
                           std::string("must be an absolute path (starting with '/') without ") +
                               kControlCharactersMessage);
  f.max_length = 4096;
  return f;
}

// A path that need not be absolute (disks[].image accepted relative paths before this rule
// existed), without control characters.
FieldDef PathWithoutControlCharacters(std::string name, std::string description) {
  FieldDef f = WithPattern(String(std::move(name), std::move(description)),
                           std::string("^") + kNoControlCharacters + "$",
                           std::string("must not contain ") + kControlCharactersMessage);
  f.min_length = 1;
  f.max_length = 4096;
  return f;
}

FieldDef ObjectArray(std::string name, std::vector<FieldDef> fields, std::string description) {
  FieldDef f;
  f.name = std::move(name);
  f.type = FieldType::kObjectArray;
  f.default_value = Json::array();
  f.fields = std::move(fields);
  f.description = std::move(description);
  return f;
}

// IPv4 dotted quad. It ends up inside a QEMU -netdev option list, where a ',' would start a new
// option: the pattern keeps anything but an address out.
constexpr char kIpv4Pattern[] =
    "^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}"
    "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$";

std::vector<FieldDef> BuildBootFields() {
  FieldDef cmdline = WithPattern(
      String("cmdline", "Kernel command line, e.g. \"console=ttyS0 panic=-1\". Absent = none."),
      "^[^\\n\\r]*$", "must not contain line breaks");
  cmdline.max_length = 4096;
  return {
      Required(AbsolutePath("kernel", "Kernel image to boot directly (e.g. an uncompressed "
                                      "vmlinux): an absolute path on the host the VM runs on.")),
      AbsolutePath("initrd", "Initial ramdisk: an absolute path on the host. Absent = none."),
      std::move(cmdline),
  };
}

std::vector<FieldDef> BuildInterfaceFields() {
  FieldDef name = Required(WithPattern(
      String("name", "Interface name, unique within the VM: a DNS-1123 label."), kNamePattern,
      kNameMessage));
  name.max_length = 63;
  FieldDef type = WithDefault(
      WithPattern(String("type", "user (QEMU user-mode networking, with optional portForwards), "
                                 "bridge (attached to the host bridge `bridge`) or network "
                                 "(attached to the libvirt network `network`). Default user."),
                  "^(user|bridge|network)$", "must be one of user, bridge, network"),
      "user");
  FieldDef bridge = WithPattern(
      String("bridge", "Host bridge device to attach to. Required for, and only allowed with, "
                       "type bridge."),
      "^[-A-Za-z0-9_.]+$", "must be a network device name: letters, digits, '-', '_' or '.'");
  bridge.max_length = 15;  // IFNAMSIZ - 1
  FieldDef network = WithPattern(
      String("network", "libvirt network to attach to. Required for, and only allowed with, "
                        "type network."),
      "^[-A-Za-z0-9_.]+$", "must be a libvirt network name: letters, digits, '-', '_' or '.'");
  network.max_length = 255;
  FieldDef host_address = WithDefault(
      WithPattern(String("hostAddress", "IPv4 address on the host to listen on. Default "
                                        "127.0.0.1 (reachable from the host only)."),
                  kIpv4Pattern, "must be an IPv4 address (e.g. 127.0.0.1)"),
      "127.0.0.1");
  return {
      std::move(name),
      std::move(type),
      std::move(bridge),
      std::move(network),
      ObjectArray(
          "portForwards",
          {
              std::move(host_address),
              Required(Int("hostPort", 1, 65535,
                           "TCP port on the host (1..65535), unique within the VM.")),
              Required(Int("guestPort", 1, 65535, "TCP port in the guest (1..65535).")),
          },
          "TCP ports of the host forwarded into the guest. Only allowed with type user."),
  };
}

std::vector<FieldDef> BuildMetadataFields() {
  FieldDef name = Required(WithPattern(
      String("name", "Name of the object, unique per kind: a DNS-1123 label starting with a "
                     "letter, at most 63 characters."),
      kNamePattern, kNameMessage));
  name.max_length = 63;
  return {
      std::move(name),
      StringMap("labels", MapSyntax::kLabels,
                "Kubernetes-style labels, matched by spec.placement.hostSelector and "
                "spec.placement.spreadBy."),
      Int("generation", 0, std::numeric_limits<int64_t>::max(),
          "Set by the controller: 1 when created, +1 each time the spec changes. Ignored on "
          "apply."),
  };
}

std::vector<FieldDef> BuildHostFields() {
  FieldDef uri = Required(String(
      "uri", "libvirt connection URI of the host, e.g. qemu+ssh://root@hv01/system or "
             "test:///default. Unique across Hosts."));
  uri.min_length = 1;
  uri.max_length = 4096;
  FieldDef agent = Required(WithPattern(
      String("agent", "Fence agent command (fence-agents convention), e.g. fence_ipmilan, or an "
                      "absolute path."),
      "^[A-Za-z0-9_./][-A-Za-z0-9_./]*$",
      "must be a command name or path: letters, digits, '-', '_', '.' or '/'"));
  agent.max_length = 255;
  return {
      std::move(uri),
      Object("capacity", Presence::kOptional,
             {
                 Required(Int("cpus", 1, 4096, "Virtual CPUs available to VMs (1..4096).")),
                 Required(Int("memoryMiB", 16, 1LL << 30,
                              "Memory available to VMs, in MiB (16..1073741824).")),
             },
             "Capacity offered to VMs; read from libvirt when absent."),
      Object("fencing", Presence::kOptional,
             {
                 std::move(agent),
                 StringMap("args", MapSyntax::kOptionValues,
                           "Options passed to the agent on stdin as name=value lines. A key "
                           "ending in File (passwordFile) names a file whose content is passed "
                           "as the key without the suffix; values of secret keys (containing "
                           "pass, secret, token, key, private, credential, community or psk) "
                           "are never shown (docs/secrets.md)."),
                 WithDefault(Int("timeoutSeconds", 1, 3600,
                                 "Time the agent may take before fencing counts as failed "
                                 "(1..3600)."),
                             60),
             },
             "How to fence (power off) the host before its VMs are started elsewhere."),
      Bool("acknowledgeUnsafe", false,
           "Allow failover without fencing. Unsafe: a VM may run twice if the host is not dead."),
      Bool("schedulable", true, "false cordons the host: no new VMs are placed on it."),
      WithDefault(
          WithPattern(String("managementOutage",
                             "When the host's management plane (libvirtd) stops answering but "
                             "the probes of its VMs pass: Wait (default) keeps them running "
                             "where they are, ManagementUnreachable, until one fails its probe "
                             "or the host goes silent; Fence fences the host and fails its VMs "
                             "over at the heartbeats' verdict, as Pacemaker does. "
                             "docs/failure-detection.md."),
                      "^(Wait|Fence)$", "must be one of Wait, Fence"),
          "Wait"),
  };
}

constexpr char kImageFormatPattern[] = "^(raw|qcow2)$";
constexpr char kImageFormatMessage[] = "must be one of raw, qcow2";

// The rules across a disk's fields that specs/validator.cc checks, as JSON Schema says them.
Json DiskRules() {
  return {
      {"oneOf", {{{"required", {"image"}}}, {{"required", {"volume"}}}}},
      {"if", {{"required", {"volume"}}}},
      {"then",
       {{"not", {{"required", {"format"}}}}, {"properties", {{"sizeGiB", {{"const", 0}}}}}}},
  };
}

Json VolumeRules() {
  return {
      {"if", {{"not", {{"required", {"baseImage"}}}}}},
      {"then", {{"required", {"sizeGiB"}}, {"properties", {{"sizeGiB", {{"minimum", 1}}}}}}},
      {"dependentRequired", {{"baseFormat", {"baseImage"}}}},
  };
}

std::vector<FieldDef> BuildVolumeFields() {
  FieldDef pool = Required(WithPattern(
      String("pool", "Name of the StoragePool the volume lives in. It must exist; a pool that "
                     "VMs use cannot be deleted."),
      kNamePattern, "must be the name of a StoragePool (a DNS-1123 label)"));
  pool.max_length = 63;
  return {
      std::move(pool),
      AbsolutePath("baseImage", "Image the volume is a qcow2 layer over (only read, so many VMs "
                                "can share it): an absolute path on the hosts that see the pool. "
                                "Absent = an empty volume."),
      WithPattern(String("baseFormat", "Format of baseImage: raw or qcow2. Absent = read from "
                                       "the image with qemu-img info, never guessed from its "
                                       "name. Only with baseImage."),
                  kImageFormatPattern, kImageFormatMessage),
      WithDefault(Int("sizeGiB", 0, 65536,
                      "Virtual size in GiB (0..65536). Without baseImage it is required and at "
                      "least 1; with baseImage, 0 = the base image's size."),
                  0),
      WithDefault(WithPattern(String("deletePolicy",
                                     "Retain: deleting the VM keeps its volume and the volume's "
                                     "snapshots. Delete: deleting the VM deletes every layer "
                                     "vmkeeper made for this disk (its top and its snapshots, "
                                     "never the base image) once its domain is gone; the VM "
                                     "is Terminating until then. Default Retain."),
                              "^(Retain|Delete)$", "must be one of Retain, Delete"),
                  "Retain"),
  };
}

std::vector<FieldDef> BuildDiskFields() {
  FieldDef disk_name = Required(WithPattern(
      String("name", "Disk name, unique within the VM: a DNS-1123 label."), kNamePattern,
      kNameMessage));
  disk_name.max_length = 63;
  return {
      std::move(disk_name),
      PathWithoutControlCharacters(
          "image", "Absolute path of a disk image file on the host, attached as the VM's disk "
                   "itself (read and written in place, not copied). Exactly one of image and "
                   "volume."),
      WithPattern(String("format",
                         "Format of image: raw or qcow2. Absent = read from the image with "
                         "qemu-img info, never guessed from its name. Only with image (a "
                         "volume's base has volume.baseFormat). An absent format is read once, "
                         "before the VM first runs, and kept in status.disks."),
                  kImageFormatPattern, kImageFormatMessage),
      WithDefault(Int("sizeGiB", 0, 65536,
                      "Virtual size in GiB (0..65536). Validated and stored, not acted upon yet: "
                      "the image keeps its own size. Only with image (a volume's size is "
                      "volume.sizeGiB)."),
                  0),
      [] {
        FieldDef volume = Object(
            "volume", Presence::kOptional, BuildVolumeFields(),
            "A volume in a StoragePool for this disk: a qcow2 layer over baseImage, or an empty "
            "volume of sizeGiB, created by the controller on first use and never again (a "
            "recorded volume that is gone blocks the VM). Exactly one of image and volume.");
        volume.schema_rules = VolumeRules();
        return volume;
      }(),
  };
}

std::vector<FieldDef> BuildVirtualMachineFields() {
  FieldDef disks = ObjectArray("disks", BuildDiskFields(),
                               "Disks of the VM, in attachment order; names must be unique. "
                               "Each is either an image file (image) or a volume in a "
                               "StoragePool (volume).");
  disks.unique_key = "name";
  disks.schema_rules = DiskRules();
  FieldDef spread_by = WithDefault(
      WithPattern(String("spreadBy", "VM label key; VMs with equal values of it avoid sharing a "
                                     "host. Empty = no spreading."),
                  std::string("^$|") + kLabelKeyPattern, kLabelKeyMessage),
      "");
  spread_by.max_length = 317;  // 253 (prefix) + '/' + 63 (name)
  FieldDef http_path = WithDefault(
      WithPattern(String("path",
                         "HTTP path to GET; healthy when a 2xx status line arrives within "
                         "timeoutSeconds (redirects are not followed: a 3xx fails)."),
                  "^/",
                  "must start with '/'"),
      "/");
  FieldDef snapshot_policy = WithDefault(
      WithPattern(String("snapshotPolicy",
                         "Name of the SnapshotPolicy whose interval snapshots the VM's volume "
                         "disks while it runs. Empty = none."),
                  std::string("^$|") + kNamePattern,
                  "must be empty or the name of a SnapshotPolicy (a DNS-1123 label)"),
      "");
  snapshot_policy.max_length = 63;
  http_path.max_length = 2048;
  return {
      Bool("running", true, "Whether the VM should be running (true) or shut off (false)."),
      WithDefault(Int("cpus", 1, 512, "Virtual CPUs (1..512)."), 1),
      WithDefault(Int("memoryMiB", 16, 16777216, "Memory in MiB (16..16777216)."), 1024),
      std::move(disks),
      Object("boot", Presence::kOptional, BuildBootFields(),
             "Direct kernel boot (kernel, initrd, command line given to the hypervisor). Absent "
             "= boot from the first disk."),
      Object("console", Presence::kOptional,
             {
                 AbsolutePath("logFile",
                              "File on the host the serial console (ttyS0) is appended to. "
                              "Absent = a pty."),
             },
             "Serial console of the VM. Absent = a pty."),
      [] {
        FieldDef interfaces = ObjectArray(
            "interfaces", BuildInterfaceFields(),
            "Network interfaces of the VM (virtio), in order; names must be unique. At most 8 "
            "of type user.");
        interfaces.unique_key = "name";
        // No default: a spec without interfaces keeps the canonical form (and so the
        // generation) it had before the field existed; re-applying it restarts nothing.
        interfaces.default_value = Json();
        return interfaces;
      }(),
      Object("placement", Presence::kDefaulted,
             {
                 StringMap("hostSelector", MapSyntax::kLabels,
                           "Only hosts whose labels include all of these are eligible."),
                 HostNameList("requiredHosts",
                              "If non-empty, only these hosts are eligible. Each must be a "
                              "Host that exists."),
                 HostNameList("preferredHosts",
                              "Eligible hosts tried first, in this order. Each must be a Host "
                              "that exists."),
                 std::move(spread_by),
                 WithDefault(Int("priority", -1000, 1000,
                                 "Higher priority VMs are placed first when capacity is short "
                                 "(-1000..1000)."),
                             0),
             },
             "Where the VM may run."),
      Object("health", Presence::kOptional,
             {
                 [] {
                   FieldDef address = String(
                       "address",
                       "Host name or IP address the probes connect to. Absent = the VM's name.");
                   address.max_length = 253;
                   return address;
                 }(),
                 Object("http", Presence::kOptional,
                        {
                            Required(Int("port", 1, 65535, "TCP port (1..65535).")),
                            std::move(http_path),
                        },
                        "HTTP GET probe."),
                 Object("tcp", Presence::kOptional,
                        {
                            Required(Int("port", 1, 65535, "TCP port (1..65535).")),
                        },
                        "TCP connect probe."),
                 Object("exec", Presence::kOptional,
                        {
                            [] {
                              FieldDef command;
                              command.name = "command";
                              command.type = FieldType::kStringArray;
                              command.required = true;
                              command.max_length = 4096;
                              command.description =
                                  "argv of the command, non-empty; run without a shell. "
                                  "Exit status 0 within timeoutSeconds is healthy.";
                              return command;
                            }(),
                        },
                        "Command probe. It runs on the controller's machine, not in the guest "
                        "(in-guest exec through a guest agent is not supported); point it at the "
                        "VM's address yourself. Used only when neither http nor tcp is given."),
                 WithDefault(Int("periodSeconds", 1, 3600, "Time between probes (1..3600)."), 5),
                 WithDefault(Int("timeoutSeconds", 1, 3600, "Timeout of one probe (1..3600)."), 2),
                 WithDefault(Int("failureThreshold", 1, 100,
                                 "Consecutive failed probes before the VM counts as failed "
                                 "(1..100)."),
                             3),
                 WithDefault(Int("startupGraceSeconds", 0, 86400,
                                 "Time after a start or change during which failed probes do "
                                 "not count (0..86400)."),
                             120),
                 WithDefault(
                     WithPattern(String("managementOutage",
                                        "When the VM's host stops answering its management "
                                        "plane: Wait (default) lets this probe keep the host "
                                        "unfenced while it passes; Fence does not count it, "
                                        "and asks for the host to be fenced and its VMs failed "
                                        "over at the heartbeats' verdict."),
                                 "^(Wait|Fence)$", "must be one of Wait, Fence"),
                     "Wait"),
             },
             "Health probe of the service inside the VM. Absent = the VM is healthy when "
             "running."),
      Object("restart", Presence::kDefaulted,
             {
                 WithDefault(Int("limit", 0, 1000,
                                 "Restarts allowed within windowSeconds before rolling back to "
                                 "the last healthy snapshot (0..1000)."),
                             3),
                 WithDefault(Int("windowSeconds", 1, 86400,
                                 "Window in which restarts are counted (1..86400)."),
                             600),
             },
             "Restart policy after VM failures."),
      std::move(snapshot_policy),
  };
}

std::vector<FieldDef> BuildSnapshotPolicyFields() {
  return {
      WithDefault(Int("intervalSeconds", 60, 31536000,
                      "Time between periodic snapshots of a running VM's volume disks "
                      "(60..31536000); the first is taken once the VM is Ready."),
                  86400),
      WithDefault(Int("keep", 1, 1000,
                      "Scheduled snapshots kept per VM (1..1000): older ones are pruned, their "
                      "data merged into the layer built on them. Snapshots taken by hand or "
                      "before a failover or rollback are never pruned, nor the latest healthy "
                      "snapshot."),
                  7),
      Bool("beforeChange", true,
           "Snapshot a Ready VM's volume disks before a change of its definition (image, disks, "
           "CPUs, memory, boot) and watch the change: not Ready within its startup grace, it is "
           "rolled back to that snapshot and the previous definition."),
      Bool("beforeFailover", true,
           "Freeze the disks as the failed host left them (the crash state, kept as a snapshot) "
           "before the VM starts elsewhere; a freeze that fails does not hold the failover up."),
      WithDefault(Int("rollbackDepth", 0, 100,
                      "When a VM used up spec.restart.limit, it comes back from its latest "
                      "snapshot taken while healthy; failing again, from the one before, up to "
                      "this many (0..100; 0 = never rolled back). The failed state is kept as "
                      "a before-rollback snapshot."),
                  2),
      Int("maxSnapshotGiB", 1, 1048576,
          "A cap on the space the VM's snapshot layers take in their pools, in GiB "
          "(1..1048576; absent = no cap): beyond it the oldest scheduled snapshots are pruned, "
          "even within keep, but never the latest healthy one nor one a restore depends on; "
          "when that cannot meet it, an event and the SnapshotSpace condition say so."),
  };
}

std::vector<FieldDef> BuildStoragePoolFields() {
  FieldDef type = WithDefault(
      WithPattern(String("type", "libvirt pool type. Only dir: qcow2 and raw volume files in a "
                                 "directory the hosts share (NFS in production). The other "
                                 "libvirt pool types (logical, zfs, rbd) are not built yet. "
                                 "Default dir."),
                  "^dir$",
                  "must be dir (the other libvirt pool types, logical, zfs and rbd, are not built "
                  "yet)"),
      "dir");
  return {
      std::move(type),
      Required(AbsolutePath("path", "Directory of the pool's volume files on the hosts: an "
                                    "absolute path, the same on every host that sees the pool.")),
      StringMap("hostSelector", MapSyntax::kLabels,
                "Only hosts whose labels include all of these see the pool (the rules of a "
                "VirtualMachine's spec.placement.hostSelector). Empty = every host."),
      HostNameList("hosts", "If non-empty, only these hosts see the pool (those of them the "
                            "hostSelector matches). Each must be a Host that exists."),
  };
}

}  // namespace

const std::vector<FieldDef>& MetadataFields() {
  static const std::vector<FieldDef>* fields = new std::vector<FieldDef>(BuildMetadataFields());
  return *fields;
}

const std::vector<FieldDef>& SpecFields(Kind kind) {
  static const std::vector<FieldDef>* host = new std::vector<FieldDef>(BuildHostFields());
  static const std::vector<FieldDef>* vm = new std::vector<FieldDef>(BuildVirtualMachineFields());
  static const std::vector<FieldDef>* policy =
      new std::vector<FieldDef>(BuildSnapshotPolicyFields());
  static const std::vector<FieldDef>* pool = new std::vector<FieldDef>(BuildStoragePoolFields());
  switch (kind) {
    case Kind::kHost: return *host;
    case Kind::kVirtualMachine: return *vm;
    case Kind::kSnapshotPolicy: return *policy;
    case Kind::kStoragePool: return *pool;
  }
  return *vm;
}

const std::string& KindDescription(Kind kind) {
  static const std::string* host = new std::string(
      "A hypervisor that vmkeeper places VMs on, reached through a libvirt URI.");
  static const std::string* vm = new std::string(
      "A service VM that vmkeeper keeps running, healthy and placed as declared.");
  static const std::string* policy = new std::string(
      "When to snapshot the volume disks of the VMs that refer to this policy, and how many to "
      "keep, taken before a change and before a failover, and how far back a VM that keeps "
      "failing is rolled back.");
  static const std::string* pool = new std::string(
      "A directory of qcow2 and raw volume files shared by the hosts that see it, where the "
      "volumes of VM disks (disks[].volume) live. The admins mount it on the hosts it selects; "
      "the controller checks which of them see it (status.hosts) and never defines it.");
  switch (kind) {
    case Kind::kHost: return *host;
    case Kind::kVirtualMachine: return *vm;
    case Kind::kSnapshotPolicy: return *policy;
    case Kind::kStoragePool: return *pool;
  }
  return *vm;
}

Json FieldDefaults(const std::vector<FieldDef>& fields) {
  Json out = Json::object();
  for (const FieldDef& f : fields) {
    if (f.type == FieldType::kObject) {
      if (f.presence == Presence::kDefaulted) out[f.name] = FieldDefaults(f.fields);
    } else if (!f.default_value.is_null()) {
      out[f.name] = f.default_value;
    }
  }
  return out;
}

Json DefaultSpec(Kind kind) { return FieldDefaults(SpecFields(kind)); }

}  // namespace vmk::specs
