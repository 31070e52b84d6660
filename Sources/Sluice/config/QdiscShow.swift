/// tc's words for a qdisc's options and extended statistics, as q_*.c's print_qopt and
/// print_xstats print them (`tc qdisc show`, `-d`, `-s`) — for the text syntax; rtnetlink dumps
/// the same state as attributes and Debian's tc prints those. Kept here, apart from the
/// qdiscs, which hold packets and state.
enum QdiscShow {
    static func options(_ q: Qdisc, details: Bool, stats: Bool = false) -> String {
        switch q {
        case let x as GREDQdisc: return x.showOptions(details: details, stats: stats)
        case let x as ETFQdisc:
            // etf_print_opt.
            let p = x.params
            return "clockid \(GateParams.clockName(p.clockid)) delta \(p.delta) offload \(p.offload ? "on" : "off") deadline_mode \(p.deadlineMode ? "on" : "off") skip_sock_check \(p.skipSockCheck ? "on" : "off")"
        case let x as FifoQdisc: return x.showOptions(details: details)
        case let x as CoDelQdisc: return x.showOptions(details: details)
        case let x as FQCoDelQdisc: return x.showOptions(details: details)
        case let x as HTBQdisc: return x.showOptions(details: details)
        case let x as IngressQdisc: return x.showOptions(details: details)
        case let x as NetemQdisc: return x.showOptions(details: details)
        case let x as TBFQdisc: return x.showOptions(details: details)
        case let x as PfifoFastQdisc: return x.showOptions(details: details)
        case let x as PrioQdisc: return x.showOptions(details: details)
        case let x as MultiqQdisc: return "bands \(x.bands)/\(x.maxBands) "       // multiq_print_opt
        case let x as MQQdisc where x.kind == "mqprio":
            // mqprio_print_opt of what mqprio_dump sends (its class entries make tc print the
            // default mode and shaper).
            guard let t = x.trafficClasses else { return "" }
            return "tc \(t.numTc) map " + (0..<16).map { "\(t.prioTcMap[$0]) " }.joined()
                + "\n             queues:" + (0..<t.numTc).map { "(\(t.offset[$0]):\(Int(t.offset[$0]) + Int(t.count[$0]) - 1)) " }.joined()
                + "\n             mode:dcb\n             shaper:dcb"

        case let x as TaprioQdisc:
            // taprio_print_opt (tc 6.1) of what taprio_dump sends.
            x.advance(x.now())
            guard let t = x.trafficClasses else { return "" }
            func hex(_ v: UInt32) -> String { v == 0 ? "0" : "0x" + String(v, radix: 16) }
            func schedule(_ s: TaprioQdisc.Schedule) -> String {
                "\tbase-time \(s.baseTime) cycle-time \(s.cycleTime) cycle-time-extension \(s.cycleTimeExtension)\n"
                    + s.entries.map { "\tindex \($0.index) cmd S gatemask \(hex($0.gateMask)) interval \($0.interval)\n" }.joined()
            }
            var out = "tc \(t.numTc) map" + (0..<16).map { " \(t.prioTcMap[$0])" }.joined()
                + "\nqueues" + (0..<t.numTc).map { " offset \(t.offset[$0]) count \(t.count[$0])" }.joined() + "\n"
            if x.flags & TaprioQdisc.fullOffload == 0 { out += "clockid \(GateParams.clockName(x.clockid))" }
            if x.flags != 0 && x.flags != TaprioQdisc.flagsInvalid { out += " flags \(hex(x.flags))" }
            if x.txtimeDelay != 0 { out += " txtime delay \(x.txtimeDelay)" }
            // print_schedule prints zeros, and no list, when there is no operating schedule.
            out += x.oper.map(schedule) ?? "\tbase-time 0 cycle-time 0 cycle-time-extension 0"
            if let a = x.admin { out += schedule(a) }
            return out
        case let x as REDQdisc: return x.showOptions(details: details)
        case let x as PIEQdisc: return x.showOptions(details: details)
        case let x as FQPIEQdisc: return x.showOptions(details: details)
        case let x as FQQdisc: return x.showOptions(details: details)
        case let x as HFSCQdisc: return x.defcls != 0 ? "default \(String(x.defcls, radix: 16)) " : ""
        case let x as SFQQdisc: return x.showOptions(details: details, stats: stats)
        case let x as ETSQdisc: return x.showOptions()
        case let x as SkbprioQdisc: return "limit \(x.limit) "
        case let x as SFBQdisc:
            // sfb_print_opt.
            return "rehash \(TcFormat.timeUs(UInt32(clamping: x.rehashInterval / 1000))) db \(TcFormat.timeUs(UInt32(clamping: x.warmup / 1000))) limit \(x.limit)p max \(x.maxQ)p target \(x.binSize)p "
                + cFormat("increment %lg decrement %lg ", Double(x.increment) / 65535, Double(x.decrement) / 65535) + "penalty_rate \(x.penaltyRate)pps penalty_burst \(x.penaltyBurst)p "
        case let x as CakeQdisc: return x.showOptions()
        case let x as CBSQdisc:
            // cbs_print_opt.
            let p = x.params
            return "hicredit \(p.hicredit) locredit \(p.locredit) sendslope \(p.sendslope) idleslope \(p.idleslope) offload 0 "
        case let x as HHFQdisc:
            // hhf_print_opt.
            return "limit \(x.limit)p quantum \(TcFormat.sizeU32(UInt32(clamping: x.quantum))) hh_limit \(x.hhLimit) reset_timeout \(TcFormat.timeUs(UInt32(clamping: x.resetTimeout / 1000))) admit_bytes \(TcFormat.sizeU32(x.admitBytes)) evict_timeout \(TcFormat.timeUs(UInt32(clamping: x.evictTimeout / 1000))) non_hh_weight \(x.nonHHWeight) "
        case let x as ChokeQdisc:
            // choke_print_opt.
            var s = "limit \(x.limit)p min \(x.qmin)p max \(x.qmax)p "
            if x.ecn { s += "ecn " }
            if x.harddrop { s += "harddrop " }
            if details { s += "ewma \(x.wlog) " + cFormat("probability %lg ", Double(UInt32(x.maxP * 4294967296.0)) / 4294967296.0) + "Scell_log \(x.scellLog)" }
            return s
        default: return ""
        }
    }

    static func xstats(_ q: Qdisc) -> String? {
        switch q {
        case let x as CoDelQdisc: return x.showXstats()
        case let x as FQCoDelQdisc: return x.showXstats()
        case let x as REDQdisc: return x.showXstats()
        case let x as SFBQdisc:
            let b = x.binStats
            return "  earlydrop \(x.earlydrop) penaltydrop \(x.penaltydrop) bucketdrop \(x.bucketdrop) queuedrop \(x.queuedrop) childdrop \(x.childdrop) marked \(x.marked)\n  maxqlen \(b.maxQlen)" + cFormat(" maxprob %lg avgprob %lg", Double(b.maxProb) / 65535, Double(b.avgProb) / 65535)
        case let x as CakeQdisc: return x.showXstats()
        case let x as HHFQdisc: return "  drop_overlimit \(x.dropOverlimit) hh_overlimit \(x.hhOverlimit) tot_hh \(x.hhTotal) cur_hh \(x.hhCurrent)"
        case let x as ChokeQdisc: return "  marked \(x.marked) early \(x.early) pdrop \(x.pdrop) other 0 matched \(x.matched)"
        case let x as PIEQdisc: return x.showXstats()
        case let x as FQPIEQdisc: return x.showXstats()
        case let x as FQQdisc: return x.showXstats()
        default: return nil
        }
    }
}

extension FifoQdisc {
    func showOptions(details: Bool) -> String {
        mode == .bytes ? "limit \(TcFormat.sizeU32(UInt32(clamping: limit)))" : "limit \(limit)p"
    }
}

extension CoDelQdisc {
    /// codel_print_opt: times in microseconds as the kernel dumps them.
    func showOptions(details: Bool) -> String { codelOptions(limit: limit, params) }
    /// codel_print_xstats.
    func showXstats() -> String? {
        let next = vars.dropping ? Int64(bitPattern: vars.dropNext &- clock.now) / 1000 : 0   // as codel_dump_stats
        var s = "  count \(vars.count) lastcount \(vars.lastcount) ldelay \(TcFormat.timeUs(UInt32(clamping: vars.ldelay / 1000)))"
        if vars.dropping { s += " dropping" }
        s += next < 0 ? " drop_next -\(TcFormat.timeUs(UInt32(clamping: -next)))" : " drop_next \(TcFormat.timeUs(UInt32(clamping: next)))"
        s += "\n  maxpacket \(cstats.maxpacket) ecn_mark \(cstats.ecnMark) drop_overlimit \(dropOverlimit)"
        if cstats.ceMark > 0 { s += " ce_mark \(cstats.ceMark)" }
        return s
    }
}

extension FQCoDelQdisc {
    /// fq_codel_print_opt.
    func showOptions(details: Bool) -> String {
        let us = { (ns: UInt64) in TcFormat.timeUs(UInt32(clamping: ns / 1000)) }
        var s = "limit \(limit)p flows \(flowCount) quantum \(quantum) target \(us(params.target)) "
        if params.ceThreshold > 0 { s += "ce_threshold \(us(params.ceThreshold)) " }
        s += "interval \(us(params.interval)) memory_limit \(TcFormat.sizeU32(UInt32(clamping: memoryLimit))) "
        if params.ecn { s += "ecn " }
        if dropBatch > 0 { s += "drop_batch \(dropBatch) " }
        return s
    }
    /// fq_codel_print_xstats (TCA_FQ_CODEL_XSTATS_QDISC).
    func showXstats() -> String? {
        var s = "  maxpacket \(cstats.maxpacket) drop_overlimit \(dropOverlimit) new_flow_count \(newFlowCount) ecn_mark \(cstats.ecnMark)"
        if cstats.ceMark > 0 { s += " ce_mark \(cstats.ceMark)" }
        if memoryUsage > 0 { s += " memory_used \(memoryUsage)" }
        if dropOvermemory > 0 { s += " drop_overmemory \(dropOvermemory)" }
        return s + "\n  new_flows_len \(newCount) old_flows_len \(oldCount)"
    }
}

extension HTBQdisc {
    /// htb_print_opt for the qdisc (TCA_HTB_INIT, direct_qlen).
    func showOptions(details: Bool) -> String {
        "r2q \(r2q) default \(cFormat("%#llx", UInt64(defaultClass))) direct_packets_stat \(directPackets)"
            + (details ? " ver 3.17" : "") + " direct_qlen \(directQlen)"
    }
}

extension IngressQdisc {
    func showOptions(details: Bool) -> String { clsact ? "" : "---------------- " }
}

extension NetemQdisc {
    /// netem_print_opt (iproute2 6.1): times from the ticks the kernel dumps, percentages as
    /// fractions of 2^32 − 1. Neither the distribution nor the seed is printed by tc.
    func showOptions(details: Bool) -> String {
        func ticksTime(_ ns: UInt64) -> String { TcFormat.timeUs(TcCore.tick2time(UInt32(clamping: ns >> 6))) }
        func pct(_ v: Double) -> String { TcFormat.percent(v) }
        var s = "limit \(limit)"
        if latency > 0 {
            s += " delay \(ticksTime(latency))"
            if jitter > 0 { s += "  \(ticksTime(jitter))" }
            if jitter > 0 && delayCorr > 0 { s += " \(pct(delayCorr))" }
        }
        if ge == nil && lossP > 0 { s += " loss \(pct(lossP))" + (lossCorr > 0 ? " \(pct(lossCorr))" : "") }
        if let g = gi { s += " loss state p13 \(pct(g.p13)) p31 \(pct(g.p31)) p32 \(pct(g.p32)) p23 \(pct(g.p23)) p14 \(pct(g.p14))" }
        if let g = ge { s += " loss gemodel p \(pct(g.p)) r \(pct(g.r)) 1-h \(pct(1 - g.h)) 1-k \(pct(g.k))" }
        if dupP > 0 { s += " duplicate \(pct(dupP))" + (dupCorr > 0 ? " \(pct(dupCorr))" : "") }
        if reorderP > 0 { s += " reorder \(pct(reorderP))" + (reorderCorr > 0 ? " \(pct(reorderCorr))" : "") }
        if corruptP > 0 { s += " corrupt \(pct(corruptP))" + (corruptCorr > 0 ? " \(pct(corruptCorr))" : "") }
        if rate > 0 {
            s += " rate \(TcFormat.rateBytes(rate / 8))"
            if packetOverhead != 0 { s += " packetoverhead \(packetOverhead)" }
            if cellSize != 0 { s += " cellsize \(cellSize)" }
            if cellOverhead != 0 { s += " celloverhead \(cellOverhead)" }
        }
        if let sl = slot, sl.minDelay | sl.maxDelay | sl.distJitter != 0 {
            // sprint_time64.
            func t64(_ ns: UInt64) -> String {
                let d = Double(ns)
                if ns >= Time.s { return cFormat("%.3gs", d / 1e9) }
                if ns >= Time.ms { return cFormat("%.3gms", d / 1e6) }
                if ns >= Time.us { return cFormat("%.3gus", d / 1e3) }
                return "\(ns)ns"
            }
            s += sl.distJitter > 0 ? " slot distribution \(t64(sl.distDelay)) \(t64(sl.distJitter))" : " slot \(t64(sl.minDelay)) \(t64(sl.maxDelay))"
            if sl.maxPackets != 0 && sl.maxPackets != Int(Int32.max) { s += " packets \(sl.maxPackets)" }
            if sl.maxBytes != 0 && sl.maxBytes != Int(Int32.max) { s += " bytes \(sl.maxBytes)" }
        }
        if ecn { s += " ecn " }
        if gap > 0 { s += " gap \(gap)" }
        return s
    }
}

extension TBFQdisc {
    /// tbf_print_opt: burst and minburst from the ticks the kernel keeps, `lat` from the limit.
    func showOptions(details: Bool) -> String {
        let rateB = rate / 8, peakB = peakrate / 8
        var s = "rate \(TcFormat.rateBytes(rateB)) "
        let bufBytes = TcCore.xmitsize(rate: rateB, ticks: bufferTicks)
        let mpuText = TcFormat.sizeU32(UInt32(clamping: mpu))
        s += details ? "burst \(TcFormat.sizeU32(bufBytes))/1 mpu \(mpuText) " : "burst \(TcFormat.sizeU32(bufBytes)) "
        if peakrate > 0 {
            s += "peakrate \(TcFormat.rateBytes(peakB)) "
            let m = TcCore.xmitsize(rate: peakB, ticks: mtuTicks)
            s += details ? "mtu \(TcFormat.sizeU32(m))/1 mpu \(mpuText) " : "minburst \(TcFormat.sizeU32(m)) "
        }
        var latency = 1e6 * (Double(limit) / Double(rateB)) - Double(TcCore.tick2time(bufferTicks))
        if peakrate > 0 {
            let lat2 = 1e6 * (Double(limit) / Double(peakB)) - Double(TcCore.tick2time(mtuTicks))
            if lat2 > latency { latency = lat2 }
        }
        if latency >= 0 { s += "lat \(TcFormat.timeUs(UInt32(clamping: UInt64(latency)))) " } else {
            s += "limit \(TcFormat.sizeU32(UInt32(clamping: limit))) "
        }
        if overhead != 0 { s += "overhead \(overhead) " }
        if atm { s += "linklayer atm " } else if details { s += "linklayer ethernet " }
        return s
    }
}

extension PfifoFastQdisc {
    func showOptions(details: Bool) -> String { "bands 3 priomap" + priomap.map { " \($0)" }.joined() }
}

extension PrioQdisc {
    func showOptions(details: Bool) -> String { "bands \(bandCount) priomap" + priomap.map { " \($0)" }.joined() }
}

extension PIEQdisc {
    /// pie_print_opt.
    func showOptions(details: Bool) -> String { "limit \(params.limit)p " + pieTiming(params) + pieFlags(params) }
    /// pie_print_xstats.
    func showXstats() -> String? {
        let p = Double(vars.prob << 8) / Double(UInt64.max)
        var s = cFormat("  prob %lg", p) + " delay \(TcFormat.timeUs(UInt32(clamping: (vars.qdelay << 6) / 1000)))"
        if params.dqRateEstimator { s += " avg_dq_rate \(PIE.avgDqRateBytes(vars))" }
        return s + "\n  pkts_in \(packetsIn) overlimit \(overlimit) dropped \(dropped) maxq \(maxq) ecn_mark \(ecnMarked)"
    }
}

extension FQPIEQdisc {
    /// fq_pie_print_opt.
    func showOptions(details: Bool) -> String {
        "limit \(params.pie.limit)p flows \(flowCount) " + pieTiming(params.pie)
            + "quantum \(TcFormat.sizeU32(UInt32(clamping: params.quantum))) memory_limit \(TcFormat.sizeU32(UInt32(clamping: params.memoryLimit))) "
            + "ecn_prob \(params.ecnProb) " + pieFlags(params.pie)
    }
    /// fq_pie_print_xstats.
    func showXstats() -> String? {
        "  pkts_in \(UInt32(truncatingIfNeeded: packetsIn)) overlimit \(UInt32(truncatingIfNeeded: overlimit)) overmemory \(UInt32(truncatingIfNeeded: overmemory)) "
            + "dropped \(UInt32(truncatingIfNeeded: dropped)) ecn_mark \(UInt32(truncatingIfNeeded: ecnMarked))\n"
            + "  new_flow_count \(UInt32(truncatingIfNeeded: newFlowCount)) new_flows_len \(newCount) old_flows_len \(oldCount) memory_used \(memoryUsage)"
    }
}

extension FQQdisc {
    /// fq_print_opt (Debian's tc 6.1: the priomap and weights the kernel also dumps are not
    /// printed there).
    func showOptions(details: Bool) -> String {
        let p = params
        let us = { (ns: UInt64) in TcFormat.timeUs(UInt32(truncatingIfNeeded: ns / 1000)) }
        var s = "limit \(p.limit)p flow_limit \(p.flowLimit)p buckets \(1 << p.bucketsLog) orphan_mask \(p.orphanMask) "
        if !p.rateEnable { s += "nopacing " }
        s += "quantum \(TcFormat.sizeU32(UInt32(clamping: p.quantum))) initial_quantum \(TcFormat.sizeU32(UInt32(clamping: p.initialQuantum))) "
        if p.maxRate != FQQdisc.unlimited { s += "maxrate \(TcFormat.rateBytes(p.maxRate)) " }
        if p.lowRateThreshold != 0 { s += "low_rate_threshold \(TcFormat.rateBytes(p.lowRateThreshold)) " }
        s += "refill_delay \(us(p.refillDelay)) "
        if p.ceThreshold / 1000 != UInt64(UInt32.max) { s += "ce_threshold \(us(p.ceThreshold)) " }
        s += "timer_slack \(TcFormat.time64(Int64(p.timerSlack))) horizon \(us(p.horizon)) "
        s += p.horizonDrop ? "horizon_drop " : "horizon_cap "
        return s
    }
    /// fq_print_xstats.
    func showXstats() -> String? {
        let next = nextPacketDelay
        var s = "  flows \(flows) (inactive \(inactiveFlows) throttled \(throttledFlows))"
        if next > 0 { s += " next_packet_delay \(TcFormat.time64(next))" }
        s += "\n  gc \(statGCFlows) highprio 0 throttled \(statThrottled)"
        let lat = min(unthrottleLatency, UInt64(UInt32.max))
        if lat > 0 { s += " latency \(TcFormat.time64(Int64(lat)))" }
        if statCEMark > 0 { s += " ce_mark \(statCEMark)" }
        if statFlowsPlimit > 0 { s += " flows_plimit \(statFlowsPlimit)" }
        if statPktsTooLong > 0 || statAllocationErrors > 0 || statHorizonDrops > 0 || statHorizonCaps > 0 {
            s += "\n"
            if statPktsTooLong > 0 { s += " pkts_too_long \(statPktsTooLong)" }
            if statAllocationErrors > 0 { s += " alloc_errors \(statAllocationErrors)" }
            if statHorizonDrops > 0 { s += " horizon_drops \(statHorizonDrops)" }
            if statHorizonCaps > 0 { s += "  horizon_caps \(statHorizonCaps)" }
        }
        return s
    }
}

/// pie_print_opt's and fq_pie_print_opt's text for PIE's times, alpha and beta.
func pieTiming(_ p: PIE.Params) -> String {
    "target \(TcFormat.timeUs(UInt32(clamping: p.target / 1000))) "
        + "tupdate \(TcFormat.timeUs(UInt32(clamping: p.tupdate / 1000))) alpha \(p.alpha) beta \(p.beta) "
}

/// The flags pie and fq_pie print last.
func pieFlags(_ p: PIE.Params) -> String {
    (p.ecn ? "ecn " : "") + (p.bytemode ? "bytemode " : "") + (p.dqRateEstimator ? "dq_rate_estimator " : "")
}

extension REDQdisc {
    /// red_print_opt: max_P as the 32-bit fraction tc sends, Scell_log as tc_red_eval_idle_damping.
    func showOptions(details: Bool) -> String {
        var s = "limit \(TcFormat.sizeU32(UInt32(clamping: limit))) min \(TcFormat.sizeU32(UInt32(clamping: qmin))) max \(TcFormat.sizeU32(UInt32(clamping: qmax))) "
        if ecn { s += "ecn " }
        if harddrop { s += "harddrop " }
        if adaptive { s += "adaptive " }
        if nodrop { s += "nodrop " }
        if details {
            let maxPFixed = UInt32(clamping: UInt64(maxP * 4294967296.0))
            s += "ewma \(wlog) " + cFormat("probability %lg ", Double(maxPFixed) / 4294967296.0) + "Scell_log \(scellLog)"
        }
        return s
    }
    /// red_print_xstats: early = probabilistic + forced drops, marked = probabilistic + forced marks.
    func showXstats() -> String? { "  marked \(marked) early \(early + forced) pdrop \(pdrop) other 0 " }
}

extension SFQQdisc {
    /// sfq_print_opt.
    func showOptions(details: Bool, stats withStats: Bool = false) -> String {
        var s = "limit \(limit)p quantum \(TcFormat.sizeU32(UInt32(clamping: quantum))) "
        if depth > 0 { s += "depth \(depth) " }
        if headdrop { s += "headdrop " }
        if details { s += "flows \(maxFlows) " }
        s += "divisor \(divisor) "
        if perturb > 0 { s += "perturb \(perturb / Time.s)sec " }
        if let r = red {
            s += "ewma \(r.wlog) min \(TcFormat.sizeU32(r.minThreshold)) max \(TcFormat.sizeU32(r.maxThreshold)) " + cFormat("probability %lg ", Double(r.maxP) / 4294967296.0)
            s += (redFlags & 1 != 0 ? "ecn " : "") + (redFlags & 2 != 0 ? "harddrop " : "") + (redFlags & 4 != 0 ? "adaptive " : "") + (redFlags & 8 != 0 ? "nodrop " : "")
            if withStats {
                s += "\n  prob_mark \(probMark) prob_mark_head \(probMarkHead) prob_drop \(probDrop)"
                s += "\n  forced_mark \(forcedMark) forced_mark_head \(forcedMarkHead) forced_drop \(forcedDrop)"
            }
        }
        return s
    }
}

/// codel_print_opt's text for `limit` and CoDel parameters.
func codelOptions(limit: Int, _ p: CoDelParams) -> String {
    var s = "limit \(limit)p target \(TcFormat.timeUs(UInt32(clamping: p.target / 1000))) "
    if p.ceThreshold > 0 { s += "ce_threshold \(TcFormat.timeUs(UInt32(clamping: p.ceThreshold / 1000))) " }
    s += "interval \(TcFormat.timeUs(UInt32(clamping: p.interval / 1000))) "
    if p.ecn { s += "ecn " }
    return s
}

extension CakeQdisc {
    /// cake_print_opt, from the values cake_dump reports.
    func showOptions() -> String {
        var s = rateBps > 0 ? "bandwidth \(TcFormat.rateBytes(rateBps)) " : "bandwidth unlimited "
        if rateFlags & Self.flagAutorate != 0 { s += "autorate-ingress " }
        s += ["diffserv3", "diffserv4", "diffserv8", "besteffort", "precedence"][Int(min(tinMode, 4))] + " "
        s += ["flowblind", "srchost", "dsthost", "hosts", "flows", "dual-srchost", "dual-dsthost", "triple-isolate"][Int(flowMode & 7)] + " "
        s += flowMode & Self.flowNAT != 0 ? "nat " : "nonat "
        s += rateFlags & Self.flagWash != 0 ? "wash " : "nowash "
        if rateFlags & Self.flagIngress != 0 { s += "ingress " }
        s += ackFilter == 2 ? "ack-filter-aggressive " : ackFilter == 1 ? "ack-filter " : "no-ack-filter "
        s += rateFlags & Self.flagSplitGSO != 0 ? "split-gso " : "no-split-gso "
        s += "rtt \(TcFormat.timeUs(interval)) "
        let raw = rateFlags & Self.flagOverhead == 0
        if raw { s += "raw " }
        if atmMode == 1 { s += "atm " } else if atmMode == 2 { s += "ptm " } else if !raw { s += "noatm " }
        s += "overhead \(rateOverhead) "
        if rateMPU > 0 { s += "mpu \(rateMPU) " }
        if bufferConfigLimit > 0 { s += "memlimit \(TcFormat.sizeU32(bufferConfigLimit)) " }
        if fwmarkMask > 0 { s += "fwmark 0x\(String(fwmarkMask, radix: 16)) " }
        return s
    }

    /// cake_print_xstats: memory, capacity estimate, sizes, then one column per tin.
    func showXstats() -> String {
        var s = " memory used: \(TcFormat.sizeU32(bufferMaxUsed)) of \(TcFormat.sizeU32(bufferLimit))\n"
        s += " capacity estimate: \(TcFormat.rateBytes(avgPeakBandwidth))\n"
        s += cFormat(" min/max network layer size: %12u /%8u\n", minNetlen, maxNetlen)
        s += cFormat(" min/max overhead-adjusted size: %8u /%8u\n", minAdjlen, maxAdjlen)
        s += cFormat(" average network hdr offset: %12u\n\n", (avgNetoff + 0x8000) >> 16)
        let order = (0..<tinCount).map { Int(tinOrder[$0]) }
        switch tinCount {
        case 3: s += "                   Bulk  Best Effort        Voice\n"
        case 4: s += "                   Bulk  Best Effort        Video        Voice\n"
        default: s += "          " + order.indices.map { cFormat("        Tin %u", UInt32($0)) }.joined() + "\n"
        }
        func row(_ name: String, _ v: (Tin) -> String) {
            s += name + order.map { let x = v(tins[$0]); return " " + String(repeating: " ", count: max(0, 12 - x.count)) + x }.joined() + "\n"
        }
        row("  thresh  ") { TcFormat.rateBytes($0.rateBps) }
        row("  target  ") { TcFormat.timeUs(UInt32(clamping: $0.cparams.target / 1000)) }
        row("  interval") { TcFormat.timeUs(UInt32(clamping: $0.cparams.interval / 1000)) }
        row("  pk_delay") { TcFormat.timeUs(UInt32(clamping: $0.peakDelay / 1000)) }
        row("  av_delay") { TcFormat.timeUs(UInt32(clamping: $0.avgDelay / 1000)) }
        row("  sp_delay") { TcFormat.timeUs(UInt32(clamping: $0.baseDelay / 1000)) }
        row("  backlog ") { TcFormat.sizeU32($0.backlog) }
        row("  pkts    ") { "\($0.packets)" }
        row("  bytes   ") { "\($0.bytes)" }
        row("  way_inds") { "\($0.wayHits)" }
        row("  way_miss") { "\($0.wayMisses)" }
        row("  way_cols") { "\($0.wayCollisions)" }
        row("  drops   ") { "\($0.dropped)" }
        row("  marks   ") { "\($0.ecnMarked)" }
        row("  ack_drop") { "\($0.ackDrops)" }
        row("  sp_flows") { "\($0.sparseFlows + $0.decayingFlows)" }
        row("  bk_flows") { "\($0.bulkFlows)" }
        row("  un_flows") { "\($0.unresponsiveFlows)" }
        row("  max_len ") { "\($0.maxSkblen)" }
        row("  quantum ") { "\($0.flowQuantum)" }
        return String(s.dropLast())
    }
}

extension GREDQdisc {
    /// gred_print_opt over what gred_dump sends: the table, then each VQ on its own line
    /// (with `-d` its ewma, probability and Scell_log; with `-s` its queue and drop counts).
    func showOptions(details: Bool, stats withStats: Bool) -> String {
        func flagWords(_ f: UInt32) -> String {
            (f & 1 != 0 ? "ecn " : "") + (f & 2 != 0 ? "harddrop " : "") + (f & 4 != 0 ? "adaptive " : "") + (f & 8 != 0 ? "nodrop " : "")
        }
        var s = "vqs \(dps) default \(def) " + (rio ? "grio " : "") + "limit \(TcFormat.sizeU32(limit)) " + flagWords(redFlags)
        for i in 0..<Self.maxDPs where vqs[i].present {
            let q = dumpVQ(i)
            s += "\n vq \(q.dp) prio \(q.prio) limit \(TcFormat.sizeU32(q.limit)) min \(TcFormat.sizeU32(q.parms.minThreshold)) max \(TcFormat.sizeU32(q.parms.maxThreshold)) "
            s += flagWords(q.redFlags)
            if details { s += "ewma \(q.parms.wlog) " + cFormat("probability %lg ", Double(q.parms.maxP) / 4294967296.0) + "Scell_log \(q.parms.scellLog) " }
            if withStats {
                s += "\n  Queue size: average \(TcFormat.sizeU32(UInt32(truncatingIfNeeded: q.vars.qavg))) current \(TcFormat.sizeU32(q.backlog)) "
                s += "\n  Dropped packets: forced \(q.forcedDrop) early \(q.probDrop) pdrop \(q.pdrop) other 0 "
                s += "\n  Marked packets: forced \(q.forcedMark) early \(q.probMark) "
                s += "\n  Total packets: \(q.packetsin) (\(TcFormat.sizeU32(UInt32(truncatingIfNeeded: q.bytesin)))) "
            }
        }
        return s
    }
}
