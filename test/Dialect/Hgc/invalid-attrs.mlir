// RUN: hgc-opt %s -split-input-file -verify-diagnostics

// expected-error @+1 {{kv_cache needs a positive KV head count, got 0}}
func.func @cache_heads(%c: !hgc.kv_cache<0x128xf16>)

// -----

// expected-error @+1 {{kv_cache needs a positive head dim, got 0}}
func.func @cache_head_dim(%c: !hgc.kv_cache<8x0xf16>)

// -----

// expected-error @+1 {{kv_cache element type must be f32, f16 or bf16, got 'i8'}}
func.func @cache_element(%c: !hgc.kv_cache<8x128xi8>)

// -----

// expected-error @+1 {{kv_cache page_size must be a positive power of two, got 24}}
func.func @cache_page(%c: !hgc.kv_cache<8x128xf16, page_size = 24>)

// -----

// expected-error @+1 {{kv_cache max_tokens must be >= 0 (0 = unbounded), got -1}}
func.func @cache_max_tokens(%c: !hgc.kv_cache<8x128xf16, max_tokens = -1>)

// -----

// expected-error @+1 {{expected KV_HEADSxHEAD_DIMxTYPE, got 3 dimension(s)}}
func.func @cache_rank(%c: !hgc.kv_cache<1x8x128xf16>)

// -----

// expected-error @+1 {{unknown kv_cache parameter 'pages', expected 'page_size' or 'max_tokens'}}
func.func @cache_unknown_param(%c: !hgc.kv_cache<8x128xf16, pages = 16>)

// -----

// expected-error @+1 {{duplicate kv_cache parameter 'page_size'}}
func.func @cache_duplicate_param(%c: !hgc.kv_cache<8x128xf16, page_size = 16, page_size = 32>)

// -----

// expected-error @+1 {{dense selection on tier 'device' takes no budget, block, bits, codebook, channels, mass or tail}}
func.func @dense_with_budget() attributes {p = #hgc.tier_policy<device = dense(budget = 8)>}

// -----

// expected-error @+1 {{'exact_topk' needs a budget: a positive count or a fraction in (0, 1], got 0}}
func.func @sparse_without_budget() attributes {p = #hgc.tier_policy<host = exact_topk>}

// -----

// expected-error @+1 {{'exact_topk' needs a budget: a positive count or a fraction in (0, 1], got 1.5}}
func.func @fraction_above_one() attributes {p = #hgc.tier_policy<host = exact_topk(budget = 1.5)>}

// -----

// expected-error @+1 {{'exact_topk' budget must be positive, got -3}}
func.func @negative_budget() attributes {p = #hgc.tier_policy<host = exact_topk(budget = -3)>}

// -----

// expected-error @+1 {{block_topk block must be a positive power of two, got 10}}
func.func @block_not_power_of_two() attributes {p = #hgc.tier_policy<host = block_topk(budget = 8, block = 10)>}

// -----

// expected-error @+1 {{'exact_topk' takes no block size}}
func.func @block_on_exact() attributes {p = #hgc.tier_policy<host = exact_topk(budget = 8, block = 16)>}

// -----

// expected-error @+1 {{quant_topk bits must be 4 or 8, got 2}}
func.func @quant_bits() attributes {p = #hgc.tier_policy<host = quant_topk(budget = 8, bits = 2)>}

// -----

// expected-error @+1 {{'block_topk' takes no bits}}
func.func @bits_on_block() attributes {p = #hgc.tier_policy<host = block_topk(budget = 8, bits = 8)>}

// -----

// expected-error @+1 {{unknown tier 'gpu', expected one of device, host, cxl, storage}}
func.func @unknown_tier() attributes {p = #hgc.tier_policy<gpu = dense>}

// -----

// expected-error @+1 {{unknown selection 'topk', expected one of dense, exact_topk, block_topk, quant_topk}}
func.func @unknown_selection() attributes {p = #hgc.tier_policy<host = topk(budget = 8)>}

// -----

// expected-error @+1 {{unknown selection option 'k', expected budget, block, bits, subspaces, centroids, channels, mass, capacity or tail}}
func.func @unknown_option() attributes {p = #hgc.tier_policy<host = exact_topk(k = 8)>}

// -----

// expected-error @+1 {{duplicate option 'budget'}}
func.func @duplicate_option() attributes {p = #hgc.tier_policy<host = exact_topk(budget = 8, budget = 9)>}

// -----

// expected-error @+1 {{placement sink must be >= 0, got -1}}
func.func @negative_sink() attributes {p = #hgc.placement<sink = -1, window = 8, tiers = [device = dense, host = dense]>}

// -----

// expected-error @+1 {{placement window must be >= 0, got -8}}
func.func @negative_window() attributes {p = #hgc.placement<window = -8, tiers = [device = dense, host = dense]>}

// -----

// expected-error @+1 {{placement needs at least one tier}}
func.func @no_tiers() attributes {p = #hgc.placement<tiers = []>}

// -----

// expected-error @+1 {{placement needs a 'tiers' list}}
func.func @tiers_missing() attributes {p = #hgc.placement<sink = 4>}

// -----

// expected-error @+1 {{placement tiers must be listed fastest first, each once: 'device' after 'host'}}
func.func @tiers_out_of_order() attributes {p = #hgc.placement<window = 8, tiers = [host = dense, device = dense]>}

// -----

// expected-error @+1 {{placement tiers must be listed fastest first, each once: 'host' after 'host'}}
func.func @tier_twice() attributes {p = #hgc.placement<window = 8, tiers = [host = dense, host = exact_topk(budget = 4)]>}

// -----

// expected-error @+1 {{with the single tier 'host' every token lives there: sink and window must be 0}}
func.func @single_tier_window() attributes {p = #hgc.placement<window = 8, tiers = [host = dense]>}

// -----

// expected-error @+1 {{the first tier 'device' holds only the hot set: sink + window must be > 0}}
func.func @empty_hot_set() attributes {p = #hgc.placement<tiers = [device = dense, host = exact_topk(budget = 4)]>}

// -----

// expected-error @+1 {{KV head 3 is overridden more than once}}
func.func @head_twice() attributes {p = #hgc.placement<tiers = [device = dense], heads = [[1, 3] = <tiers = [host = dense]>, [3] = <tiers = [device = dense]>]>}

// -----

// expected-error @+1 {{a head placement cannot override heads}}
func.func @nested_heads() attributes {p = #hgc.placement<tiers = [device = dense], heads = [[1] = <tiers = [host = dense], heads = [[2] = <tiers = [host = dense]>]>]>}

// -----

// expected-error @+1 {{unknown placement entry 'budget', expected sink, window, tiers or heads}}
func.func @unknown_entry() attributes {p = #hgc.placement<budget = 4, tiers = [device = dense]>}

// -----

// expected-error @+1 {{duplicate placement entry 'sink'}}
func.func @duplicate_entry() attributes {p = #hgc.placement<sink = 4, sink = 8, tiers = [device = dense]>}

// -----

// expected-error @+1 {{head placement names no KV heads}}
func.func @head_placement_empty() attributes {h = #hgc.head_placement<[] = <tiers = [host = dense]>>}

// -----

// expected-error @+1 {{KV head index must be >= 0, got -1}}
func.func @head_placement_negative() attributes {h = #hgc.head_placement<[-1] = <tiers = [host = dense]>>}

// -----

// expected-error @+1 {{KV head 2 is listed twice}}
func.func @head_placement_repeat() attributes {h = #hgc.head_placement<[2, 2] = <tiers = [host = dense]>>}

// -----

// A nested placement is verified like a top-level one.
// expected-error @+1 {{with the single tier 'device' every token lives there: sink and window must be 0}}
func.func @head_placement_nested_invalid() attributes {h = #hgc.head_placement<[0] = <sink = 4, tiers = [device = dense]>>}

// -----

// expected-error @+1 {{'block_topk' takes no mass: block scores are upper bounds, not a softmax}}
func.func @mass_on_blocks() attributes {p = #hgc.tier_policy<host = block_topk(budget = 8, mass = 0.9)>}

// -----

// expected-error @+1 {{'quant_topk' mass must be in (0, 1], got 1.25}}
func.func @mass_above_one() attributes {p = #hgc.tier_policy<host = quant_topk(budget = 8, mass = 1.25)>}

// -----

// expected-error @+1 {{dense selection on tier 'device' takes no budget, block, bits, codebook, channels, mass or tail}}
func.func @mass_on_dense() attributes {p = #hgc.tier_policy<device = dense(mass = 0.5)>}

// -----

// expected-error @+1 {{pq_topk centroids must be a power of two in [2, 65536], got 300}}
func.func @pq_centroids() attributes {p = #hgc.tier_policy<host = pq_topk(budget = 8, centroids = 300)>}

// -----

// expected-error @+1 {{pq_topk subspaces must be positive, got 0}}
func.func @pq_subspaces() attributes {p = #hgc.tier_policy<host = pq_topk(budget = 8, subspaces = 0)>}

// -----

// expected-error @+1 {{'exact_topk' takes no subspaces or centroids}}
func.func @subspaces_on_exact() attributes {p = #hgc.tier_policy<host = exact_topk(budget = 8, subspaces = 4)>}

// -----

// expected-error @+1 {{channel_topk channels must be positive, got 0}}
func.func @channels_zero() attributes {p = #hgc.tier_policy<host = channel_topk(budget = 8, channels = 0)>}

// -----

// expected-error @+1 {{'exact_topk' takes no channels}}
func.func @channels_on_exact() attributes {p = #hgc.tier_policy<host = exact_topk(budget = 8, channels = 16)>}

// -----

// expected-error @+1 {{'channel_topk' takes no mass: it folds in the mass it leaves out as the mean of the values}}
func.func @mass_on_channels() attributes {p = #hgc.tier_policy<host = channel_topk(budget = 8, mass = 0.9)>}

// -----

// expected-error @+1 {{tier 'host' capacity must be positive, got -4}}
func.func @negative_capacity() attributes {p = #hgc.tier_policy<host = dense(capacity = -4)>}

// -----

// expected-error @+1 {{tier 'device' takes no capacity: the first tier holds the hot set}}
func.func @capacity_on_first() attributes {p = #hgc.placement<window = 8, tiers = [device = dense(capacity = 8), host = dense]>}

// -----

// expected-error @+1 {{tier 'storage' takes no capacity: the last tier holds every token the tiers before it have no room for}}
func.func @capacity_on_last() attributes {p = #hgc.placement<window = 8, tiers = [device = dense, host = dense(capacity = 64), storage = dense(capacity = 64)]>}

// -----

// expected-error @+1 {{tier 'host' needs a capacity: without one the tiers after it hold nothing}}
func.func @middle_without_capacity() attributes {p = #hgc.placement<window = 8, tiers = [device = dense, host = exact_topk(budget = 4), storage = dense]>}

// -----

// expected-error @+1 {{dense selection on tier 'host' takes no budget, block, bits, codebook, channels, mass or tail}}
func.func @dense_with_tail() attributes {p = #hgc.tier_policy<host = dense(tail = summary)>}

// -----

// expected-error @+1 {{unknown tail 'sampled', expected one of none, summary}}
func.func @unknown_tail() attributes {p = #hgc.tier_policy<host = exact_topk(budget = 8, tail = sampled)>}
