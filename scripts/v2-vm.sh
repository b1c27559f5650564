#!/usr/bin/env bash
# Run boxcar's behaviour tests on a pure cgroup v2 kernel, in a QEMU VM this script boots.
#
#   scripts/v2-vm.sh prepare        fetch QEMU and Debian 12's kernel (.debs, unpacked into a
#                                   cache; nothing is installed), build the initramfs. Once.
#   scripts/v2-vm.sh run [options]  build the tests and runtimes on this host, boot the VM,
#                                   run the tests in it, print their results.
#   scripts/v2-vm.sh status         say whether the VM is prepared.
#
# run's options:
#   --chapters 1,2,3     which chapters' behaviour tests (tests/chNN.rs) run
#   --runtime PKG[,PKG]  which runtimes they run against: chNN-solution or a learner's chNN;
#                        default: each chapter's own solution. A chapter's tests are skipped
#                        on a runtime of an earlier chapter.
#   --all                the full matrix, as `cargo test` runs it on a host: every chapter's
#                        tests against every solution from that chapter on
#   --timeout MIN        give up on the VM after MIN minutes (default 40)
#   --runs FILE          run these instead, built by the caller: one line per run,
#                        `TEST LABEL TEST_BINARY RUNTIME_BINARY` (`cargo boxcar mistakes --v2-vm`
#                        runs its mistaken runtimes this way); failing runs are then results,
#                        not an error
#   --results DIR        copy each run's output (TEST-LABEL.out) and exit status (.code) there
#   --verify-json        the checks print one JSON line each (BOXCAR_VERIFY=json), as for verify
# With no option, run is CI's subset: chapters 01-03 on their own solutions, and chapter 03's
# (cgroups) on every later solution too (see CI_CHAPTERS below).
#
# The guest is Debian 12's kernel (modular, 6.1) booted with cgroup_no_v1=all, under QEMU's
# software emulation (TCG; a KVM guest hangs after the firmware on the machines this project
# is built on). The guest's root is this host's root, shared read-only over virtio-9p under a
# tmpfs overlay, so the test binaries and runtimes built here run there unchanged; /tmp and
# the results directory are the guest's own. No host package is installed or removed: the
# .debs are fetched with `apt-get download` and unpacked with `dpkg-deb -x`.
#
# Environment: BOXCAR_V2VM_CACHE (default .cache/v2vm in the repository), CARGO_TARGET_DIR.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cache="${BOXCAR_V2VM_CACHE:-$repo/.cache/v2vm}"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"

# What QEMU needs besides the shared libraries (found from these packages' dependencies).
readonly QEMU_PACKAGES=(qemu-system-x86 qemu-system-data seabios ipxe-qemu)
# QEMU's loadable modules, TCG among them; its other modules' libraries (sound, SPICE, USB,
# OpenGL) are not fetched: the VM has no display and no devices that need them.
readonly QEMU_MODULE_PACKAGE=qemu-system-common
# Kernel modules the initramfs loads to reach the host's root (with their dependencies).
readonly BOOT_MODULES=(virtio_pci virtio_console 9pnet_virtio 9p overlay)
# Kernel modules loaded after boot if the kernel has them; a missing one is not an error.
# Chapters 07-09 (network namespaces, veth, bridge, NAT) need these: extend the list here.
readonly EXTRA_MODULES=(veth bridge br_netfilter nf_tables nft_chain_nat nft_masq nft_nat
    nft_ct nft_fib_inet nf_nat nf_conntrack)
# What `run` runs by default, CI's subset: these chapters' tests on their own solutions, and
# those of CI_ON_LATER_SOLUTIONS on every later solution too (all of them build on chapter
# 03's cgroups). Chapters 07-09 belong here when they exist (network, security); a chapter
# without tests yet is skipped.
readonly CI_CHAPTERS=(1 2 3 7 8 9)
readonly CI_ON_LATER_SOLUTIONS=(3)
# Checks CI's subset leaves out in the guest, by chapter: many containers each, nothing of
# cgroup v2 beyond what the chapter's other checks do, and minutes under emulation. They run
# on the host in every `cargo test`, and in the guest with --chapters.
declare -A CI_SKIP=(
    [8]="prewarmed_containers_share_one_image,two_starts_at_once_make_one_instance,the_address_lives_with_the_container"
)
readonly CI_SKIP
# How long one test binary may run in the guest before it is killed (its processes listed).
readonly GUEST_RUN_TIMEOUT=600
# The guest's memory and CPUs. TCG with multi-threading uses one host thread per CPU.
readonly GUEST_MEMORY=4096 GUEST_CPUS=2

say() { printf '==> v2-vm: %s\n' "$*" >&2; }
die() {
    printf 'v2-vm: error: %s\n' "$*" >&2
    exit 1
}

# ---------------------------------------------------------------------------------------
# prepare

# The name of the package that `Depends:` field entry names (first alternative, no version).
dep_names() {
    sed -e 's/([^)]*)//g' -e 's/|[^,]*//g' | tr ',' '\n' | sed -e 's/:any//' -e 's/ //g' | grep -v '^$'
}

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"
}

# The packages to fetch: QEMU's, the kernel, and every library they need that this host
# does not have (followed through the libraries' own dependencies).
packages_to_fetch() {
    local kernel
    kernel="$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n 1)"
    [ -n "$kernel" ] || die "apt knows no linux-image-amd64: run apt-get update (as root)"
    local -A seen=()
    local queue=("${QEMU_PACKAGES[@]}") wanted=("$kernel" "$QEMU_MODULE_PACKAGE") package dep
    seen[$QEMU_MODULE_PACKAGE]=1
    while [ "${#queue[@]}" -gt 0 ]; do
        package="${queue[0]}"
        queue=("${queue[@]:1}")
        [ -z "${seen[$package]:-}" ] || continue
        seen[$package]=1
        wanted+=("$package")
        while read -r dep; do
            if [ -z "${seen[$dep]:-}" ] && ! installed "$dep"; then
                queue+=("$dep")
            fi
        done < <(apt-cache show --no-all-versions "$package" | sed -n 's/^\(Pre-\)\{0,1\}Depends: //p' | dep_names)
    done
    printf '%s\n' "${wanted[@]}"
}

# Refresh apt's package lists (never the packages): a fresh machine may have none, and old
# lists name .debs the mirror no longer has. Only root can.
update_lists() {
    [ "$(id -u)" -eq 0 ] || die "apt's package lists are missing or stale: run apt-get update as root"
    say "apt-get update (package lists only)"
    apt-get update -qq
}

download() {
    # apt-get download writes into the current directory; as root it warns that it does not
    # drop privileges to _apt for a directory _apt cannot write, which is fine here.
    (cd "$cache/debs" && apt-get download -qq "$@" 2>&1) | grep -v "^W: Download is performed unsandboxed" || true
    local package
    for package in "$@"; do
        ls "$cache/debs/${package}"_*.deb >/dev/null 2>&1 || return 1
    done
}

fetch_debs() {
    mkdir -p "$cache/debs"
    apt-cache show qemu-system-x86 linux-image-amd64 >/dev/null 2>&1 || update_lists
    local packages=()
    packages_to_fetch >"$cache/packages"
    mapfile -t packages <"$cache/packages"
    say "fetching ${#packages[@]} packages with apt-get download (nothing is installed): ${packages[*]}"
    if ! download "${packages[@]}"; then
        update_lists
        packages_to_fetch >"$cache/packages"
        mapfile -t packages <"$cache/packages"
        download "${packages[@]}" || die "apt-get download failed for some of: ${packages[*]}"
    fi
}

unpack_debs() {
    rm -rf "$cache/root.new"
    mkdir -p "$cache/root.new"
    local deb
    for deb in "$cache"/debs/*.deb; do
        dpkg-deb -x "$deb" "$cache/root.new"
    done
    rm -rf "$cache/root"
    mv "$cache/root.new" "$cache/root"
}

kernel_version() {
    local dir
    dir="$(find "$cache/root/lib/modules" -mindepth 1 -maxdepth 1 -type d | sort | tail -n 1)"
    [ -n "$dir" ] || die "no kernel modules under $cache/root/lib/modules"
    basename "$dir"
}

# Append the module files to insmod for MODULE to MODULE_ORDER, dependencies first, as
# modules.dep lists them (relative to the modules directory).
MODULE_ORDER=()
declare -A MODULE_SEEN=()
add_module() {
    local modules_dir="$1" module="$2"
    local line file dep name
    name="${module//-/_}"
    line="$(grep -E "(^|/)${name}\.ko(\.xz|\.zst|\.gz)?:" "$modules_dir/modules.dep" | head -n 1 || true)"
    if [ -z "$line" ]; then
        # Built into the kernel: nothing to load.
        grep -qE "/${name}\.ko$" "$modules_dir/modules.builtin" ||
            die "kernel module $module is neither a module nor built in"
        return 0
    fi
    file="${line%%:*}"
    [ -z "${MODULE_SEEN[$file]:-}" ] || return 0
    MODULE_SEEN[$file]=1
    for dep in ${line#*:}; do
        dep="$(basename "$dep")"
        add_module "$modules_dir" "${dep%%.ko*}"
    done
    MODULE_ORDER+=("$file")
}

build_initramfs() {
    local kver="$1" work modules_dir
    modules_dir="$cache/root/lib/modules/$kver"
    work="$(mktemp -d "$cache/initramfs.XXXXXX")"
    mkdir -p "$work"/{bin,dev,proc,sys,mnt/host,mnt/rw,newroot,modules}
    [ -x /bin/busybox ] || die "/bin/busybox is missing: install busybox-static (setup.sh does)"
    cp /bin/busybox "$work/bin/busybox"
    local file module
    for module in "${BOOT_MODULES[@]}"; do
        add_module "$modules_dir" "$module"
    done
    : >"$work/modules.order"
    for file in "${MODULE_ORDER[@]}"; do
        local base
        base="$(basename "$file")"
        case "$file" in
        *.xz) xz -dc "$modules_dir/$file" >"$work/modules/${base%.xz}" ;;
        *.zst) zstd -qdc "$modules_dir/$file" >"$work/modules/${base%.zst}" ;;
        *) cp "$modules_dir/$file" "$work/modules/$base" ;;
        esac
        printf '%s\n' "${base%.ko*}.ko" >>"$work/modules.order"
    done
    cat >"$work/init" <<'INIT'
#!/bin/busybox sh
# Stage one: load the modules that reach the host, put an overlay over the host's root and
# switch to it. Stage two is the job's guest.sh, on the read-write share.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() { echo "v2-vm guest: $*"; poweroff -f; }
while read -r module; do
    insmod "/modules/$module" || fail "cannot load $module"
done </modules.order
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=524288 hostroot /mnt/host ||
    fail "cannot mount the host's root"
mount -t tmpfs -o mode=0755 rw /mnt/rw
mkdir /mnt/rw/upper /mnt/rw/work
mount -t overlay -o lowerdir=/mnt/host,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work root /newroot ||
    fail "cannot mount the overlay root"
for dir in proc sys dev; do
    mount --move "/$dir" "/newroot/$dir"
done
mount -t tmpfs -o mode=0755 run /newroot/run
mkdir -p /newroot/run/v2vm
mount -t 9p -o trans=virtio,version=9p2000.L,cache=none,msize=524288 job /newroot/run/v2vm ||
    fail "cannot mount the job share"
exec switch_root /newroot /bin/busybox sh /run/v2vm/guest.sh
INIT
    chmod 0755 "$work/init"
    (cd "$work" && find . | busybox cpio -o -H newc -R 0:0 2>/dev/null | gzip -1) >"$cache/initramfs.gz.new"
    mv "$cache/initramfs.gz.new" "$cache/initramfs.gz"
    rm -rf "$work"
}

# A stamp names what was prepared (the initramfs's recipe, busybox); prepare does nothing
# when it matches.
stamp_text() {
    printf 'initramfs %s\n' "$({ declare -f build_initramfs add_module; echo "${BOOT_MODULES[*]}"; } |
        sha256sum | cut -d' ' -f1)"
    printf 'busybox %s\n' "$(sha256sum /bin/busybox | cut -d' ' -f1)"
}

prepared() {
    [ -f "$cache/prepared" ] && [ -f "$cache/initramfs.gz" ] &&
        [ -x "$cache/root/usr/bin/qemu-system-x86_64" ]
}

cmd_prepare() {
    if prepared && [ "$(sed -n '3,$p' "$cache/prepared")" = "$(stamp_text)" ]; then
        say "already prepared in $cache ($(sed -n 1p "$cache/prepared"))"
        return 0
    fi
    local started=$SECONDS
    mkdir -p "$cache"
    if ! ls "$cache"/debs/linux-image-*.deb >/dev/null 2>&1 ||
        ! ls "$cache"/debs/"$QEMU_MODULE_PACKAGE"_*.deb >/dev/null 2>&1; then
        fetch_debs
    fi
    say "unpacking into $cache/root"
    unpack_debs
    local kver
    kver="$(kernel_version)"
    # The package's postinst would run depmod; busybox's does the same job here.
    busybox depmod -b "$cache/root" "$kver"
    # QEMU must start with the libraries it was given, and those this host already has.
    local missing
    missing="$(LD_LIBRARY_PATH="$(qemu_library_path)" ldd "$cache/root/usr/bin/qemu-system-x86_64" \
        "$cache/root/usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so" | grep 'not found' || true)"
    [ -z "$missing" ] || die "QEMU still lacks libraries: $missing"
    say "building the initramfs (busybox, and the modules for ${BOOT_MODULES[*]})"
    build_initramfs "$kver"
    {
        printf 'kernel %s, %s\n' "$kver" "$(LD_LIBRARY_PATH="$(qemu_library_path)" \
            "$cache/root/usr/bin/qemu-system-x86_64" --version | head -n 1)"
        printf 'prepared %s\n' "$(date -u +%FT%TZ)"
        stamp_text
    } >"$cache/prepared.new"
    mv "$cache/prepared.new" "$cache/prepared"
    say "prepared in $((SECONDS - started)) s: $(sed -n 1p "$cache/prepared")"
}

qemu_library_path() {
    printf '%s' "$cache/root/usr/lib/x86_64-linux-gnu:$cache/root/lib/x86_64-linux-gnu"
}

cmd_status() {
    if prepared; then
        echo "prepared: $(sed -n 1p "$cache/prepared") in $cache"
    else
        echo "not prepared: run scripts/v2-vm.sh prepare"
        return 1
    fi
}

# ---------------------------------------------------------------------------------------
# run

# Paths of the artifacts a cargo JSON message stream names, as "name path" lines.
executables() {
    sed -n 's/.*"target":{[^}]*"name":"\([^"]*\)".*"executable":"\([^"]*\)".*/\1 \2/p'
}

# The (test chapter, runtime package) pairs `run` was asked for, built on the host: sets the
# caller's `runs` (one line per run: TEST RUNTIME TEST_BINARY RUNTIME_BINARY).
plan_and_build_runs() {
    local chapters="$1" runtimes="$2" all="$3" default="$4"
    # Every solution chapter there is, by number.
    local solutions=() dir
    for dir in "$repo"/solutions/ch[0-9][0-9]-*; do
        solutions+=("$(basename "$dir" | sed -E 's/^ch0*([0-9]+)-.*/\1/')")
    done

    # The (test chapter, runtime package) pairs to run.
    local pairs=() chapter runtime
    if [ "$default" = 1 ]; then
        for chapter in "${CI_CHAPTERS[@]}"; do
            [ -e "$repo/tests/$(printf 'ch%02d' "$chapter").rs" ] || continue
            for runtime in "${solutions[@]}"; do
                if [ "$runtime" -eq "$chapter" ] ||
                    { [ "$runtime" -gt "$chapter" ] && [[ " ${CI_ON_LATER_SOLUTIONS[*]} " == *" $chapter "* ]]; }; then
                    pairs+=("$chapter $(printf 'ch%02d-solution' "$runtime")")
                fi
            done
        done
    else
        [ -n "$chapters" ] || chapters="$(IFS=,; echo "${solutions[*]}")"
        for chapter in ${chapters//,/ }; do
            chapter=$((10#$chapter))
            [ -e "$repo/tests/$(printf 'ch%02d' "$chapter").rs" ] || die "there are no tests for chapter $chapter"
            if [ -n "$runtimes" ]; then
                for runtime in ${runtimes//,/ }; do
                    [[ "$runtime" =~ ^ch[0-9]{2}(-solution)?$ ]] ||
                        die "--runtime takes chNN or chNN-solution, not $runtime"
                    if [ "$((10#${runtime:2:2}))" -lt "$chapter" ]; then
                        say "skipping chapter $chapter's tests on $runtime: it is an earlier chapter"
                    else
                        pairs+=("$chapter $runtime")
                    fi
                done
            elif [ "$all" = 1 ]; then
                for runtime in "${solutions[@]}"; do
                    [ "$runtime" -lt "$chapter" ] || pairs+=("$chapter $(printf 'ch%02d-solution' "$runtime")")
                done
            else
                pairs+=("$chapter $(printf 'ch%02d-solution' "$chapter")")
            fi
        done
    fi
    [ "${#pairs[@]}" -gt 0 ] || die "nothing to run"

    # Build on the host: the runtimes and the test binaries.
    local packages=() tests=() pair
    local -A seen_package=() seen_test=()
    for pair in "${pairs[@]}"; do
        read -r chapter runtime <<<"$pair"
        [ -n "${seen_package[$runtime]:-}" ] || packages+=(-p "$runtime")
        seen_package[$runtime]=1
        local test
        test="$(printf 'ch%02d' "$chapter")"
        [ -n "${seen_test[$test]:-}" ] || tests+=(--test "$test")
        seen_test[$test]=1
    done
    say "building on the host: ${!seen_package[*]} and the tests ${!seen_test[*]}"
    local built
    built="$(cd "$repo" && cargo build --locked --quiet --message-format=json-render-diagnostics "${packages[@]}" | executables)"
    built+=$'\n'"$(cd "$repo" && cargo test --locked --quiet --no-run --message-format=json-render-diagnostics -p workshop "${tests[@]}" | executables)"
    for pair in "${pairs[@]}"; do
        read -r chapter runtime <<<"$pair"
        local test_bin runtime_bin
        test_bin="$(awk -v n="$(printf 'ch%02d' "$chapter")" '$1 == n && $2 ~ /\/deps\// {print $2}' <<<"$built" | head -n 1)"
        runtime_bin="$(awk -v n="$runtime" '$1 == n && $2 !~ /\/deps\// {print $2}' <<<"$built" | head -n 1)"
        [ -x "$test_bin" ] || die "no test binary for chapter $chapter"
        [ -x "$runtime_bin" ] || die "no binary for $runtime"
        local skip=""
        [ "$default" = 0 ] || skip="${CI_SKIP[$chapter]:-}"
        runs+="$(printf 'ch%02d' "$chapter") $runtime $test_bin $runtime_bin${skip:+ skip=$skip}"$'\n'
    done
}

# A --runs file, checked: four fields a line, a label fit for a file name, binaries that run.
check_runs_file() {
    local file="$1" test label test_bin runtime_bin extra
    [ -s "$file" ] || die "--runs $file: no such file, or it is empty"
    while read -r test label test_bin runtime_bin extra; do
        if [ -z "$runtime_bin" ] || [ -n "$extra" ]; then
            die "--runs $file: each line is TEST LABEL TEST_BINARY RUNTIME_BINARY"
        fi
        [[ "$test$label" =~ ^[A-Za-z0-9._-]+$ ]] || die "--runs $file: '$test $label' is not a plain name"
        if [ ! -x "$test_bin" ] || [ ! -x "$runtime_bin" ]; then
            die "--runs $file: $test_bin or $runtime_bin is not executable"
        fi
        printf '%s %s %s %s\n' "$test" "$label" "$test_bin" "$runtime_bin"
    done <"$file"
}

cmd_run() {
    local chapters="" runtimes="" all=0 timeout_min=40
    local default=1 runs_file="" results="" verify_mode=
    while [ $# -gt 0 ]; do
        case "$1" in
        --chapters) chapters="${2:?--chapters needs a list, e.g. 1,2,3}"; default=0; shift 2 ;;
        --runtime | --runtimes) runtimes="${2:?--runtime needs a package, e.g. ch03-solution}"; default=0; shift 2 ;;
        --all) all=1; default=0; shift ;;
        --timeout) timeout_min="${2:?--timeout needs minutes}"; shift 2 ;;
        --runs) runs_file="${2:?--runs needs a file}"; default=0; shift 2 ;;
        --results) results="${2:?--results needs a directory}"; shift 2 ;;
        --verify-json) verify_mode=json; shift ;;
        *) die "unknown option $1 (see the top of $0)" ;;
        esac
    done
    prepared || cmd_prepare

    local runs=""
    if [ -z "$runs_file" ]; then
        plan_and_build_runs "$chapters" "$runtimes" "$all" "$default"
    else
        runs="$(check_runs_file "$runs_file")"
    fi
    # The static probe every check runs inside its containers.
    local probe
    probe="$(cd "$repo" && cargo rustc --locked --quiet --message-format=json-render-diagnostics -p boxcar-probe \
        --target-dir "$target_dir/static" -- -C target-feature=+crt-static | executables | awk '{print $2}' | head -n 1)"
    [ -x "$probe" ] || die "the static probe was not built"

    # The job: a results directory shared read-write, with the guest's script in it.
    local job
    job="$(mktemp -d "${TMPDIR:-/tmp}/boxcar-v2vm.XXXXXX")"
    # shellcheck disable=SC2064 # expand now: $job is this run's own directory
    trap "rm -rf '$job'" EXIT
    printf '%s\n' "${runs%$'\n'}" >"$job/runs"
    write_guest_script "$job/guest.sh" "$probe" "$verify_mode"

    local kver
    kver="$(kernel_version)"
    say "booting Debian's $kver with cgroup_no_v1=all under QEMU (TCG, $GUEST_CPUS CPUs); the tests print as they run"
    local started=$SECONDS status=0
    # Everything the guest prints arrives on its serial console, i.e. QEMU's stdout.
    QEMU_MODULE_DIR="$cache/root/usr/lib/x86_64-linux-gnu/qemu" \
        LD_LIBRARY_PATH="$(qemu_library_path)" timeout --foreground --kill-after=10 "$((timeout_min * 60))" \
        "$cache/root/usr/bin/qemu-system-x86_64" \
        -L "$cache/root/usr/share/seabios" -L "$cache/root/usr/share/qemu" -L "$cache/root/usr/lib/ipxe/qemu" \
        -accel tcg,thread=multi -cpu max -smp "$GUEST_CPUS" -m "$GUEST_MEMORY" \
        -kernel "$cache/root/boot/vmlinuz-$kver" -initrd "$cache/initramfs.gz" \
        -append "console=ttyS0 cgroup_no_v1=all quiet loglevel=3 panic=-1 rdinit=/init" \
        -display none -monitor none -serial stdio -no-reboot -nodefaults -net none \
        -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
        -virtfs "local,path=$job,mount_tag=job,security_model=none,multidevs=remap" \
        </dev/null | sed -u 's/\r$//' || status=$?
    local took=$((SECONDS - started))
    [ "$status" -ne 124 ] || say "the VM did not finish within $timeout_min minutes and was stopped"

    # The verdict comes from the results the guest wrote, not from what it printed.
    echo
    say "results (VM ran ${took} s)"
    if [ ! -f "$job/cgroups" ] || [ ! -f "$job/done" ]; then
        die "the guest produced no results (QEMU exit status $status)"
    fi
    if [ -n "$results" ]; then
        mkdir -p "$results"
        cp "$job"/*.out "$job"/*.code "$results"/ 2>/dev/null || true
    fi
    local failed=0 code
    while read -r test runtime _ _; do
        code="$(cat "$job/$test-$runtime.code" 2>/dev/null || echo none)"
        local counts
        counts="$(grep -E '^test result:' "$job/$test-$runtime.out" 2>/dev/null | tail -n 1 | sed 's/^test result: //' || true)"
        if [ -n "$verify_mode" ] && [ "$code" = 0 ]; then
            # In verify's mode the checks' verdicts are in their JSON lines, not the exit status.
            local checks failing
            checks="$(grep -c '^{' "$job/$test-$runtime.out" || true)"
            failing="$(grep -c '"passed":false' "$job/$test-$runtime.out" || true)"
            counts="$checks checks, $failing failed"
            [ "$failing" = 0 ] || code="0, but $failing checks failed"
        fi
        if [ "$code" = 0 ]; then
            printf '  ok      %s checks on %s: %s\n' "$test" "$runtime" "$counts"
        else
            failed=$((failed + 1))
            printf '  FAILED  %s checks on %s (exit %s): %s\n' "$test" "$runtime" "$code" "${counts:-no result line}"
        fi
    done <"$job/runs"
    if [ "$(cat "$job/cgroups")" != "cgroup2-only" ]; then
        die "the guest's cgroups were not pure v2: $(cat "$job/cgroups")"
    fi
    if [ -n "$runs_file" ]; then
        # The caller's runs may be meant to fail (a mistaken runtime): it reads the results.
        say "$failed of $(wc -l <"$job/runs") runs had a failing check"
        return 0
    fi
    [ "$failed" = 0 ] || die "$failed of $(wc -l <"$job/runs") test runs failed on cgroup v2"
    say "all $(wc -l <"$job/runs") test runs passed on a pure cgroup v2 kernel"
}

# The first directories under /tmp of the given paths (`ci-clone` for /tmp/ci-clone/x), once
# each: the ones the guest must see through its own /tmp.
tmp_tops() {
    local path
    for path in "$@"; do
        case "$path" in
            /tmp/?*) path="${path#/tmp/}"; printf '%s\n' "${path%%/*}" ;;
        esac
    done | sort -u | tr '\n' ' '
}

# The guest's stage two: runs as PID 1 on the overlay root, then powers the VM off.
write_guest_script() {
    local file="$1" probe="$2" verify_mode="$3" keep_tmp
    local -a binaries
    mapfile -t binaries < <(awk '{print $3; print $4}' "$job/runs")
    keep_tmp="$(tmp_tops "$repo" "$probe" "$cache" "${binaries[@]}")"
    {
        printf '# generated by scripts/v2-vm.sh for one run\n'
        printf 'PROBE=%q\nMODULES=%q\nEXTRA_MODULES=%q\nRUN_TIMEOUT=%q\n' "$probe" \
            "$cache/root/lib/modules" "${EXTRA_MODULES[*]}" "$GUEST_RUN_TIMEOUT"
        # insta finds the snapshots from the workspace root; there is no cargo to ask in the VM.
        printf 'export INSTA_WORKSPACE_ROOT=%q\n' "$repo"
        # verify's mode: the checks print one JSON line each, for a caller that reads them.
        [ -z "$verify_mode" ] || printf 'export BOXCAR_VERIFY=%q\n' "$verify_mode"
        # The guest mounts a tmpfs of its own on /tmp, which hides the host's: whatever the run
        # needs from under the host's /tmp (a clone there, its target dir) is bound back.
        printf 'KEEP_TMP=%q\n' "$keep_tmp"
        cat <<'GUEST'
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 INSTA_UPDATE=no CI=true
# An emulated CPU is several times slower: give each run of a runtime longer than on a host.
export BOXCAR_RUN_TIMEOUT=120
bb=/bin/busybox
job=/run/v2vm
finish() { sync; $bb poweroff -f; }
trap finish EXIT
# The guest's own scratch places: an overlay's upper directory cannot sit on an overlay.
# What the run needs from the host's /tmp is set aside first and bound back after.
$bb mkdir -p /run/hosttmp && $bb mount --bind /tmp /run/hosttmp
$bb mount -t tmpfs -o mode=1777 tmp /tmp
for top in $KEEP_TMP; do
    $bb mkdir -p "/tmp/$top" && $bb mount --bind "/run/hosttmp/$top" "/tmp/$top"
done
$bb mkdir -p /var/lib/boxcar && $bb mount -t tmpfs -o mode=0700 boxcar /var/lib/boxcar
$bb mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts 2>/dev/null || true
$bb mount -t tmpfs shm /dev/shm 2>/dev/null || true
$bb hostname boxcar-v2vm
# Modules beyond the boot: from the unpacked kernel package, seen through the host's root.
# The kernel loads some modules itself (a crypto algorithm nf_tables needs, say) through
# kernel.modprobe: point it at busybox's, whatever the host has.
$bb mkdir -p /lib/modules && $bb mount --bind "$MODULES" /lib/modules
$bb ln -s /bin/busybox /run/modprobe && echo /run/modprobe >/proc/sys/kernel/modprobe
loaded="" absent=""
for module in $EXTRA_MODULES; do
    if $bb modprobe "$module" 2>/dev/null; then loaded="$loaded $module"; else absent="$absent $module"; fi
done
echo "v2-vm guest: modules loaded:${loaded:- none}${absent:+; not available:$absent}"
# cgroup v2 alone, delegating to namespaces, with the controllers the chapters use.
$bb mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
echo "+memory +cpu +pids" >/sys/fs/cgroup/cgroup.subtree_control
v1="$($bb awk '$3 == "cgroup" {print $2}' /proc/mounts)"
v2="$($bb awk '$3 == "cgroup2" {print $2}' /proc/mounts)"
if [ -z "$v1" ] && [ "$v2" = /sys/fs/cgroup ]; then
    echo "v2-vm guest: /sys/fs/cgroup is cgroup2 (controllers: $(cat /sys/fs/cgroup/cgroup.controllers)); no cgroup v1 hierarchy is mounted"
    echo cgroup2-only >$job/cgroups
else
    echo "v2-vm guest: NOT pure cgroup v2: v1 mounts [$v1], cgroup2 mounts [$v2]"
    echo "v1 mounts: $v1" >$job/cgroups
fi
echo "v2-vm guest: kernel $($bb uname -r), $($bb nproc) CPUs, $($bb free -m | $bb awk '/Mem:/ {print $2}') MiB, ready $($bb cut -d' ' -f1 /proc/uptime) s after boot"
set -o pipefail # the test's exit status, not tee's
while read -r test runtime test_bin runtime_bin skip; do
    echo
    # skip=a,b: the checks CI's subset leaves out (--skip of the test harness).
    set --
    for check in $(echo "${skip#skip=}" | $bb tr ',' ' '); do
        set -- "$@" --skip "$check"
    done
    echo "=== v2-vm: $test checks on $runtime${skip:+ (leaving out ${skip#skip=})}"
    start=$($bb date +%s)
    BOXCAR_BIN="$runtime_bin" BOXCAR_PROBE="$PROBE" $bb timeout -s KILL "$RUN_TIMEOUT" "$test_bin" "$@" </dev/null 2>&1 |
        $bb tee "$job/$test-$runtime.out"
    code=$?
    if [ "$code" = 137 ]; then
        echo "=== v2-vm: $test on $runtime did not end within $RUN_TIMEOUT s and was killed; the processes left:"
        $bb ps -o pid,ppid,stat,args
    fi
    echo "=== v2-vm: $test on $runtime took $(($($bb date +%s) - start)) s"
    echo "$code" >"$job/$test-$runtime.code"
done <$job/runs
touch $job/done
GUEST
    } >"$file"
}

main() {
    case "${1:-}" in
    prepare) cmd_prepare ;;
    run) shift; cmd_run "$@" ;;
    status) cmd_status ;;
    *)
        sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
    esac
}

# On one line, so that bash has read all of it before it runs: editing this file while a
# run is under way cannot change what that run does.
main "$@"; exit
