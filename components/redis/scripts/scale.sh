# Changing the shape of a formed cluster: how many primaries serve slots, who replicates whom, and
# which members leave. Sourced by bootstrap.sh, never run on its own (POSIX sh, see common.sh).
#
# The desired shape comes from the environment bootstrap.sh reads:
#   REDIS_NODES                 the members that stay (host:port, by stable DNS name);
#   REDIS_PRIMARIES             how many of them serve slots;
#   REDIS_REPLICAS_PER_PRIMARY  replicas of each;
#   REDIS_NODE_HOSTS_FILE       optional "<host name> <machine>" lines: a replica is never placed on
#                               its primary's machine. A node without a line is its own machine (in
#                               Kubernetes the pods' required anti-affinity already gives each pod
#                               its own node); the lab maps its nodes onto a few fake machines.
#   REDIS_SCALE_MAX_FILL_PERCENT a change that empties primaries is refused when the data in use
#                               would fill the primaries that stay beyond this share of maxmemory
#                               (default 80, the memory warning threshold).
#   REDIS_MIGRATE_PIPELINE      keys per MIGRATE while slots move (default 100).
#
# Every step reads the cluster again and only does what is still missing, so an interrupted run is
# finished by the next one: a slot left half-moved (MIGRATING/IMPORTING) is completed with
# `redis-cli --cluster fix`, the moves with `redis-cli --cluster rebalance` (weight 0 empties the
# primaries that leave or step down, --cluster-use-empty-masters fills new ones), replicas are
# re-pointed with CLUSTER REPLICATE, and a member that left is reset and forgotten by every node.
# Nothing is moved while a slot has no live owner: a shard with no live copy needs a human.

# Writes "<id> <ip> <port> <name> <role> <primary id> <slots> <state> <wanted>" for each entry of
# the CLUSTER NODES text $1 (role master|replica, state ok|failing, wanted: the index of the entry
# in the desired table $2 — "<name> <port> <ip> ..." lines — or - when it is not wanted). An entry
# is wanted when its announced host name and port, or its address, are one of the desired nodes.
classify_view() {
    printf '%s\n' "$2" | awk -v view="$1" '
        NF >= 3 { name[NR] = $1; port[NR] = $2; ip[NR] = $3; wanted_count = NR }
        END {
            count = split(view, line, "\n")
            for (l = 1; l <= count; l++) {
                n = split(line[l], f, " ")
                if (n < 8) continue
                split(f[2], part, ",")
                at = index(part[1], "@")
                endpoint = at > 0 ? substr(part[1], 1, at - 1) : part[1]
                p = endpoint; sub(/.*:/, "", p)
                address = substr(endpoint, 1, length(endpoint) - length(p) - 1)
                host = (part[2] != "" && part[2] !~ /=/) ? part[2] : "-"
                wanted = "-"
                for (w = 1; w <= wanted_count; w++) {
                    if (p == port[w] && (host == name[w] || address == ip[w])) { wanted = w; break }
                }
                slots = 0
                for (s = 9; s <= n; s++) {
                    if (f[s] ~ /^\[/) continue
                    dash = index(f[s], "-")
                    slots += dash > 0 ? substr(f[s], dash + 1) - substr(f[s], 1, dash - 1) + 1 : 1
                }
                role = f[3] ~ /master/ ? "master" : "replica"
                state = f[3] ~ /fail|noaddr|handshake/ ? "failing" : "ok"
                print f[1], (address == "" ? "-" : address), p, host, role, f[4], slots, state, wanted
            }
        }'
}

# The machine node name $1 runs on (REDIS_NODE_HOSTS_FILE), the name itself when unlisted.
machine_of() {
    _mo=
    if [ -n "${REDIS_NODE_HOSTS_FILE:-}" ] && [ -r "$REDIS_NODE_HOSTS_FILE" ]; then
        _mo=$(awk -v name="$1" '$1 == name { print $2; exit }' "$REDIS_NODE_HOSTS_FILE")
    fi
    printf '%s\n' "${_mo:-$1}"
}

# The classified view (classify_view) of the cluster as the seed sees it now, where each reachable
# node's own role replaces the seed's gossip about it (gossip lags right after REPLICATE).
current_shape() {
    _cs_view=$(cli "$seed_ip" "$seed_port" cluster nodes)
    _cs_selves=$(printf '%s\n' "$_cs_view" | awk '$3 !~ /fail|noaddr|handshake/ {
            split($2, part, ","); split(part[1], e, "@"); print e[1] }' |
        while read -r _cs_address; do
            cli "${_cs_address%:*}" "${_cs_address##*:}" cluster nodes 2>/dev/null |
                awk '$3 ~ /(^|,)myself(,|$)/ { print $1, $3, $4 }'
        done)
    classify_view "$_cs_view" "$wanted_table" | awk -v selves="$_cs_selves" '
        BEGIN {
            count = split(selves, line, "\n")
            for (l = 1; l <= count; l++) {
                if (split(line[l], f, " ") < 3) continue
                own_role[f[1]] = f[2] ~ /master/ ? "master" : "replica"
                own_primary[f[1]] = f[3]
            }
        }
        {
            if ($1 in own_role) { $5 = own_role[$1]; $6 = own_primary[$1] }
            print
        }'
}

# Runs `redis-cli --cluster <subcommand> ...` with the password from the environment.
cluster_tool() {
    redis-cli --no-auth-warning --cluster "$@"
}

# Waits until `redis-cli --cluster check` passes (every node agrees on the slot map, no slot is
# open, every slot is covered) and every node reports cluster_state:ok — a node that just joined
# refuses MIGRATE with CLUSTERDOWN until then. Returns 1 at the deadline (the caller decides).
wait_agreement() {
    while :; do
        if _wa_out=$(cluster_tool check "$seed_ip:$seed_port" 2>&1); then
            _wa_down=$(printf '%s\n' "$_wa_out" | awk '$1 == "M:" || $1 == "S:" { print $3 }' |
                while read -r _wa_address; do
                    cli "${_wa_address%:*}" "${_wa_address##*:}" cluster info |
                        awk -F: -v a="$_wa_address" '$1 == "cluster_state" && $2 != "ok" { print a }'
                done)
            [ -z "$_wa_down" ] && return 0
            _wa_out="[WARNING] cluster_state not ok on: $_wa_down"
        fi
        if past_deadline; then
            printf '%s\n' "$_wa_out" | grep -E '^\[(ERR|WARNING)\]' >&2 || true
            return 1
        fi
        sleep 1
    done
}

# Forgets, on every live member, the failing entries that hold no slot and are not wanted: nodes
# that left without being forgotten (a deleted pod, an old identity of a wiped node).
forget_dead_entries() {
    _fd_shape=$(current_shape)
    for _fd_id in $(printf '%s\n' "$_fd_shape" | awk '$8 == "failing" && $7 == 0 && $9 == "-" { print $1 }'); do
        log "forgetting $_fd_id: not a wanted member, failing, no slots"
        changed=yes
        forget_everywhere "$_fd_id" "$_fd_shape"
    done
}

# CLUSTER FORGET $1 on every live member of the classified view $2 other than $1 itself.
forget_everywhere() {
    printf '%s\n' "$2" | awk -v gone="$1" '$1 != gone && $8 == "ok" { print $2, $3 }' |
        while read -r _fe_ip _fe_port; do
            cli "$_fe_ip" "$_fe_port" cluster forget "$1" >/dev/null 2>&1 || true
        done
}

# Refuses when a slot has no live owner: moving or forgetting anything then would lose keys.
require_live_copies() {
    _rl_shape=$1
    _rl_served=$(printf '%s\n' "$_rl_shape" | awk '$5 == "master" && $8 == "ok" { sum += $7 } END { print sum + 0 }')
    if [ "$_rl_served" -ne 16384 ]; then
        _rl_dead=$(printf '%s\n' "$_rl_shape" | awk '$5 == "master" && $8 != "ok" && $7 > 0 { printf " %s:%s (%s slots)", $2, $3, $7 }')
        die "refusing to change the cluster: only $_rl_served of 16384 slots have a live primary;" \
            "a shard with no live copy:${_rl_dead:- slots unassigned}. Bring it back or recover it by hand"
    fi
}

# Finishes slots left MIGRATING or IMPORTING by an interrupted move (`--cluster fix` moves the
# remaining keys and assigns the slot to one owner).
finish_open_slots() {
    _fo_open=$(printf '%s\n' "$(current_shape)" | awk '$8 == "ok" { print $2, $3 }' |
        while read -r _fo_ip _fo_port; do
            cli "$_fo_ip" "$_fo_port" cluster nodes | awk '$3 ~ /(^|,)myself(,|$)/ && /\[/ { print $1 }'
        done)
    [ -n "$_fo_open" ] || return 0
    changed=yes
    log "slots left half-moved on$(printf ' %s' $_fo_open): finishing them with --cluster fix"
    if ! _fo_out=$(cluster_tool fix "$seed_ip:$seed_port" 2>&1); then
        printf '%s\n' "$_fo_out" | tail -n 20 >&2
        die "redis-cli --cluster fix could not finish the half-moved slots"
    fi
}

# Bytes of INFO memory field $3 on $1:$2 (0 when unset or unreadable).
memory_field() {
    cli "$1" "$2" info memory 2>/dev/null | awk -F: -v field="$3" '$1 == field { print $2 + 0; found = 1 } END { if (!found) print 0 }'
}

# Refuses to empty primaries when the data in use would not fit, evenly spread, on the primaries
# $2 (ids) that keep serving; $1 is the classified view.
require_room() {
    _rr_shape=$1
    _rr_keep=$2
    _rr_fill=${REDIS_SCALE_MAX_FILL_PERCENT:-80}
    _rr_used=0
    for _rr_address in $(printf '%s\n' "$_rr_shape" | awk '$5 == "master" && $7 > 0 && $8 == "ok" { print $2 ":" $3 }'); do
        _rr_used=$((_rr_used + $(memory_field "${_rr_address%:*}" "${_rr_address##*:}" used_memory_dataset)))
    done
    _rr_count=0
    _rr_room=
    for _rr_id in $_rr_keep; do
        _rr_address=$(printf '%s\n' "$_rr_shape" | awk -v id="$_rr_id" '$1 == id { print $2 ":" $3 }')
        _rr_max=$(memory_field "${_rr_address%:*}" "${_rr_address##*:}" maxmemory)
        _rr_count=$((_rr_count + 1))
        if [ "$_rr_max" -gt 0 ] && { [ -z "$_rr_room" ] || [ "$_rr_max" -lt "$_rr_room" ]; }; then
            _rr_room=$_rr_max
        fi
    done
    [ -n "$_rr_room" ] || return 0 # no maxmemory: nothing to measure against
    _rr_share=$((_rr_used / _rr_count))
    _rr_limit=$((_rr_room / 100 * _rr_fill))
    if [ "$_rr_share" -gt "$_rr_limit" ]; then
        die "refusing to scale in: $_rr_used bytes of data would put $_rr_share bytes on each of" \
            "$_rr_count primaries, above ${_rr_fill}% of their maxmemory ($_rr_limit of $_rr_room bytes);" \
            "keep more primaries or give them more memory first"
    fi
    log "room check: $_rr_share bytes per primary after the move, limit $_rr_limit (${_rr_fill}% of $_rr_room)"
}

# The ids of the primaries that should serve slots, from the classified view $1: the wanted
# primaries that serve slots now (in REDIS_NODES order), then wanted empty primaries, up to
# REDIS_PRIMARIES.
primaries_to_keep() {
    printf '%s\n' "$1" | awk -v want="$primaries" '
        $5 == "master" && $8 == "ok" && $9 != "-" {
            if ($7 > 0) serving[$9] = $1; else empty[$9] = $1
        }
        END {
            kept = 0
            for (i = 1; i <= 10000 && kept < want; i++) if (i in serving) { print serving[i]; kept++ }
            for (i = 1; i <= 10000 && kept < want; i++) if (i in empty) { print empty[i]; kept++ }
        }'
}

# Makes a wanted replica an empty primary (CLUSTER RESET HARD, forgotten, met again) when the
# cluster has fewer primaries than it should and no empty node to promote: the replica whose
# primary has the most replicas goes. Its data is a copy; the primary keeps it.
promote_spare_replica() {
    _ps_shape=$1
    _ps_spare=$(printf '%s\n' "$_ps_shape" | awk '
        $5 == "replica" && $8 == "ok" && $9 != "-" { count[$6]++; candidate[$6] = $1 " " $2 " " $3 " " $4 }
        END { for (p in count) if (count[p] > best) { best = count[p]; pick = candidate[p] } print pick }')
    [ -n "$_ps_spare" ] || die "need $primaries primaries but no empty node or replica can become one"
    # shellcheck disable=SC2086  # "<id> <ip> <port> <name>"
    set -- $_ps_spare
    changed=yes
    log "no empty node left: turning replica $4:$3 ($1) into an empty primary"
    cli "$2" "$3" cluster reset hard >/dev/null
    forget_everywhere "$1" "$_ps_shape"
    join_empty_primary "$2" "$3"
}

# Adds the empty, lone node $1:$2 to the cluster as a primary without slots.
# add-node refuses while the nodes disagree (right after another node joined): wait first, and
# try again when gossip changed the configuration between the check and add-node's own check.
join_empty_primary() {
    while :; do
        wait_agreement || die "the nodes do not agree on the cluster; not adding $1:$2"
        _je_out=$(cluster_tool add-node "$1:$2" "$seed_ip:$seed_port" 2>&1) && return 0
        case "$_je_out" in
            *"don't agree about configuration"*)
                if ! past_deadline; then
                    log "the nodes changed their configuration meanwhile; adding $1:$2 again"
                    sleep 1
                    continue
                fi ;;
        esac
        printf '%s\n' "$_je_out" >&2
        die "redis-cli --cluster add-node $1:$2 failed"
    done
}

# Moves slots so that exactly the primaries $1 (ids) serve them, evenly; every other primary is
# emptied (weight 0). Skipped when nothing is off by more than 1 % of 16384 slots; repeated (up
# to five rounds) while a primary that should be empty still serves a slot. A primary that gave
# its last slot away turns into a replica of the receiver (cluster-allow-replica-migration), and
# redis-cli then stops at its next SETSLOT to it ("use SETSLOT only with masters") when several
# primaries are emptied at once: the round's half-moved slot is finished, and the next round
# goes on with the primaries that are left.
rebalance_onto() {
    for _ro_round in 1 2 3 4 5; do
        rebalance_round "$1" || return 0
    done
    die "slots still not where they belong after five rebalance rounds"
}

# One round of rebalance_onto; returns 1 when nothing was left to move.
rebalance_round() {
    _ro_shape=$(current_shape)
    _ro_keep=$1
    _ro_weights=
    _ro_needed=
    _ro_draining=
    for _ro_id in $(printf '%s\n' "$_ro_shape" | awk '$5 == "master" && $8 == "ok" { print $1 }'); do
        case " $_ro_keep " in
            *" $_ro_id "*) ;;
            *)
                _ro_weights="$_ro_weights $_ro_id=0"
                if printf '%s\n' "$_ro_shape" | awk -v id="$_ro_id" '$1 == id && $7 > 0 { found = 1 } END { exit !found }'; then
                    _ro_draining="$_ro_draining $_ro_id"
                fi
                ;;
        esac
    done
    [ -z "$_ro_draining" ] || _ro_needed=yes
    _ro_spread=$(printf '%s\n' "$_ro_shape" | awk -v keep=" $_ro_keep " '
        index(keep, " " $1 " ") > 0 {
            if (n == 0 || $7 < low) low = $7
            if (n == 0 || $7 > high) high = $7
            n++
        }
        END { print high - low }')
    # 1 % of 16384 slots, the evenness the rebalance promises.
    [ "$_ro_spread" -gt 163 ] && _ro_needed=yes
    [ -n "$_ro_needed" ] || return 1
    if [ -n "$_ro_draining" ]; then
        require_room "$_ro_shape" "$_ro_keep"
    fi
    changed=yes
    log "moving slots: $(printf '%s\n' "$_ro_keep" | wc -w) primaries to serve them evenly${_ro_weights:+, emptying$_ro_weights}"
    wait_agreement || die "the nodes do not agree on the slot map; not moving slots"
    # shellcheck disable=SC2086  # one --cluster-weight argument per id
    if ! cluster_tool rebalance "$seed_ip:$seed_port" --cluster-use-empty-masters \
        --cluster-threshold 1 --cluster-pipeline "${REDIS_MIGRATE_PIPELINE:-100}" \
        ${_ro_weights:+--cluster-weight $_ro_weights} >"$work_dir/rebalance.log" 2>&1; then
        if grep -q 'SETSLOT only with masters' "$work_dir/rebalance.log"; then
            log "rebalance stopped at a primary that was emptied and became a replica; going on"
            finish_open_slots
            return 0
        fi
        tail -n 20 "$work_dir/rebalance.log" >&2
        die "redis-cli --cluster rebalance failed; run again to finish the move"
    fi
    awk '$1 == "Moving" && $3 == "slots" { moved += $2 } END { print "rebalance: " moved + 0 " slots moved" }' \
        "$work_dir/rebalance.log" >&2
    return 0
}

# Points every wanted node that does not serve slots at a kept primary: replicas of primaries that
# step down or leave, empty primaries, replicas on their primary's machine, and replicas beyond
# REDIS_REPLICAS_PER_PRIMARY while another primary has fewer. One change per round, re-read after.
assign_replicas() {
    _ar_keep=$1
    _ar_rounds=0
    while :; do
        _ar_shape=$(current_shape)
        _ar_move=$(printf '%s\n' "$_ar_shape" | while read -r _i _a _p _n _r _pr _s _st _w; do
            [ "$_w" != - ] || continue
            case " $_ar_keep " in *" $_i "*) continue ;; esac
            [ "$_r" = master ] && [ "$_s" -gt 0 ] && continue
            printf '%s %s %s %s %s %s %s\n' "$_i" "$_a" "$_p" "$_n" "$_r" "$_pr" "$(machine_of "$_n")"
        done | awk -v keep=" $_ar_keep " -v per="$replicas" -v shape="$_ar_shape" \
            -v machines_file="$work_dir/machines" '
            BEGIN {
                while ((getline entry < machines_file) > 0) {
                    split(entry, m, " ")
                    machines[m[1]] = m[2]
                }
                count = split(shape, line, "\n")
                for (l = 1; l <= count; l++) {
                    split(line[l], f, " ")
                    if (index(keep, " " f[1] " ") > 0) { load[f[1]] = 0; primary_name[f[1]] = f[4] }
                }
            }
            { node[NR] = $0; id[NR] = $1; primary[NR] = ($5 == "replica") ? $6 : "-"; machine[NR] = $7 }
            END {
                # Replicas that may stay: of a kept primary, not on its machine, within the count.
                for (r = 1; r <= NR; r++) {
                    p = primary[r]
                    if ((p in load) && machine[r] != primary_machine(p) && load[p] < per) { load[p]++; fine[r] = 1 }
                }
                for (r = 1; r <= NR; r++) {
                    if (r in fine) continue
                    best = ""
                    for (p in load) {
                        if (machine[r] == primary_machine(p)) continue
                        if (best == "" || load[p] < load[best] || (load[p] == load[best] && p < best)) best = p
                    }
                    if (best == "") { print "none", node[r]; exit }
                    # A surplus replica already in place only moves to fill a primary short of replicas.
                    if (primary[r] in load && machine[r] != primary_machine(primary[r]) && load[best] >= per) continue
                    print best, node[r]
                    exit
                }
            }
            function primary_machine(p) { return machines[p] }')
        [ -n "$_ar_move" ] || return 0
        # shellcheck disable=SC2086  # "<primary id> <id> <ip> <port> <name> ..."
        set -- $_ar_move
        [ "$1" != none ] || die "no primary on another machine than $5 to replicate: check REDIS_NODE_HOSTS_FILE"
        _ar_rounds=$((_ar_rounds + 1))
        [ "$_ar_rounds" -le 100 ] || die "replicas did not settle after 100 changes"
        log "$5:$4 ($2) replicates $1 from now on"
        changed=yes
        _ar_reply=$(cli "$3" "$4" cluster replicate "$1" 2>&1)
        if [ "$_ar_reply" != OK ]; then
            past_deadline && die "CLUSTER REPLICATE $1 on $5:$4 refused: $_ar_reply"
            log "CLUSTER REPLICATE on $5:$4: $_ar_reply; retrying"
            sleep 1
        fi
    done
}

# Members that are not wanted leave: after their slots are gone and nobody wanted replicates from
# them, each is reset (it forgets the cluster and drops its copy) and forgotten by every member.
remove_unwanted() {
    while :; do
        _ru_shape=$(current_shape)
        _ru_leaver=$(printf '%s\n' "$_ru_shape" | awk '$9 == "-" { line = $1 " " $2 " " $3 " " $4 " " $5 " " $7 " " $8
            if ($5 == "replica") { print line; printed = 1; exit } else if (first == "") first = line }
            END { if (first != "" && !printed) print first }' | head -n 1)
        [ -n "$_ru_leaver" ] || return 0
        # shellcheck disable=SC2086  # "<id> <ip> <port> <name> <role> <slots> <state>"
        set -- $_ru_leaver
        [ "$6" -eq 0 ] || die "$4:$3 ($1) still serves $6 slots; not removing it"
        changed=yes
        if printf '%s\n' "$_ru_shape" | awk -v id="$1" '$6 == id && $9 != "-" { found = 1 } END { exit !found }'; then
            die "wanted replicas still follow $4:$3 ($1); not removing it"
        fi
        if [ "$7" = ok ]; then
            _ru_keys=$(cli "$2" "$3" dbsize 2>/dev/null || echo 0)
            if [ "$5" = master ] && [ "${_ru_keys:-0}" -gt 0 ]; then
                die "$4:$3 ($1) serves no slot but still holds $_ru_keys keys; not resetting it"
            fi
            log "removing $4:$3 ($1, $5): CLUSTER RESET and forgotten by every member"
            cli "$2" "$3" cluster reset hard >/dev/null 2>&1 || true
        else
            log "forgetting $4:$3 ($1): it left already"
        fi
        forget_everywhere "$1" "$_ru_shape"
        sleep 0.5
    done
}

# Set by every step that changes the cluster (the log then says whether anything did).
changed=

# The whole change of shape, in the order that never leaves a slot without its keys: finish
# half-moved slots, make sure every slot has a live owner, create primaries if some are missing,
# move slots onto the primaries that stay, re-point replicas, then let unwanted members go.
reshape_cluster() {
    _rc_mode=$1
    work_dir=$(mktemp -d)
    # shellcheck disable=SC2064  # expand now: the directory is fixed
    trap "rm -rf '$work_dir'" EXIT
    forget_dead_entries
    finish_open_slots
    _rc_shape=$(current_shape)
    require_live_copies "$_rc_shape"
    while :; do
        _rc_keep=$(primaries_to_keep "$_rc_shape" | tr '\n' ' ')
        [ -n "$_rc_keep" ] || die "none of REDIS_NODES serves slots in the cluster the seed knows; not changing anything"
        _rc_kept=$(printf '%s\n' "$_rc_keep" | wc -w)
        [ "$_rc_kept" -lt "$primaries" ] || break
        # Draining before a scale-out, the missing primaries are pods still to come; draining
        # before a scale-in (every wanted node runs), a replica steps up now so that the slots
        # that leave are spread over as many primaries as the new shape has.
        if [ "$_rc_mode" = drain ] &&
            [ "$(printf '%s' "$table" | awk 'NF >= 5' | wc -l)" -lt "$node_count" ]; then
            break
        fi
        promote_spare_replica "$_rc_shape"
        wait_agreement || die "the nodes do not agree on the slot map after adding a primary"
        _rc_shape=$(current_shape)
    done
    # The machine of each kept primary, for the replica placement.
    printf '%s\n' "$_rc_shape" | awk -v keep=" $_rc_keep " 'index(keep, " " $1 " ") > 0 { print $1, $4 }' |
        while read -r _rc_id _rc_name; do
            printf '%s %s\n' "$_rc_id" "$(machine_of "$_rc_name")"
        done >"$work_dir/machines"
    # Empty primaries that will not serve become replicas before any slot moves: redis-cli's
    # rebalance rounds a slot onto each empty primary of weight 0 (seen with 3 -> 5).
    assign_replicas "$_rc_keep"
    rebalance_onto "$_rc_keep"
    # Moving slots takes as long as the data needs; the waits after it get a fresh deadline.
    deadline=$(($(date +%s) + timeout))
    assign_replicas "$_rc_keep"
    remove_unwanted
    [ -n "$changed" ] || log "cluster already in shape: nothing to change"
}
